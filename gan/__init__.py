"""A faithful TensorFlow 2 / Keras 3 port of the BSN paper's GAN code (fjxmlzn/BSN).

Importing the package imports nothing: the library core is :mod:`gan.bsn`, the experiment
runner the rest (docs/architecture.md).
"""
