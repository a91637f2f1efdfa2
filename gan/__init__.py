"""A faithful TensorFlow 2 / Keras 3 port of the BSN paper's GAN code (fjxmlzn/BSN).

Importing the package registers the built-in metrics (:mod:`gan.metrics.builtin`), so every
module reading the registry sees them; neither import loads TensorFlow.
"""

import gan.metrics.builtin  # noqa: F401  (registers the built-in metrics)
