"""BSN in your own Keras GAN: the paper's layers, the ``u`` update and a ``fit()`` model, on
every Keras backend (tensorflow, jax, torch).

The stable public API (docs/library.md):

* :class:`SNConv2D`, :class:`SNDense`: spectrally normalized drop-ins for ``Conv2D`` /
  ``Dense`` (``sn_mode`` "SN", "BSN" or "none", ``scale``, optional ``learnable_gamma``); a
  dense layer asked for BSN computes SN;
* :class:`BatchNorm`: the original's batch norm (TF1's fused kernel's rules), for generators;
* :func:`update_u`: one power-iteration step of every ``u`` of a model (call it after each
  discriminator optimizer step of a custom loop); :func:`normalized_layers`,
  :func:`weight_diagnostics`, :func:`leaky_relu`;
* :class:`BSNGAN`: a ``keras.Model`` whose ``train_step`` is the paper's iteration;
* :class:`SpectralNormLogger`, :class:`SampleGrid`: the paper's diagnostics and sample grids as
  Keras callbacks (resume through ``keras.callbacks.BackupAndRestore``);
* :func:`mirrored_strategy`: the one ``MirroredStrategy`` per device set of a process
  (tensorflow backend).

Importing this package registers the layers and the model for ``keras.models.load_model``
(which then names a damaged ``.keras`` file as such: :mod:`gan.bsn.saving`). It
imports Keras and NumPy only (and TensorFlow only when Keras runs on it), never the task
runner's modules.
"""

from gan.bsn.batch_norm import BatchNorm
from gan.bsn.callbacks import SampleGrid, SpectralNormLogger
from gan.bsn.diagnostics import normalized_layers, update_u, weight_diagnostics
from gan.bsn.distribute import mirrored_strategy
from gan.bsn.layers import SNConv2D, SNDense, SpectralNormalized, leaky_relu
from gan.bsn.model import BSNGAN
from gan.bsn.saving import install as _install_damaged_file_check

_install_damaged_file_check()

__all__ = [
    "BSNGAN",
    "BatchNorm",
    "SNConv2D",
    "SNDense",
    "SampleGrid",
    "SpectralNormLogger",
    "SpectralNormalized",
    "leaky_relu",
    "mirrored_strategy",
    "normalized_layers",
    "update_u",
    "weight_diagnostics",
]
