"""A faithful TensorFlow 2 / Keras 3 port of the BSN paper's GAN code (fjxmlzn/BSN).

Importing the package registers the built-in metrics and networks (:mod:`gan.metrics.builtin`,
:mod:`gan.networks.builtin`), so every module reading the registries sees them; neither import
loads TensorFlow.
"""

import gan.metrics.builtin  # noqa: F401  (registers the built-in metrics)
import gan.networks.builtin  # noqa: F401  (registers the built-in networks)
