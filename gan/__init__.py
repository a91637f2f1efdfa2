"""A faithful TensorFlow 2 / Keras 3 port of the BSN paper's GAN code (fjxmlzn/BSN).

The package's own ``__init__`` imports nothing, so that ``import gan.bsn`` (the library core)
loads none of the task runner. The metric and network registries register their built-ins as
they load (:mod:`gan.metrics.names`, :mod:`gan.networks.specs`).
"""
