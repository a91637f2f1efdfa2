"""The paper's training iteration written once per Keras backend (``tensorflow``, ``jax``,
``torch``); :class:`gan.bsn.BSNGAN` runs the module of the backend Keras runs on."""
