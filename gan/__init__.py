"""A faithful TensorFlow 2 / Keras 3 port of the BSN paper's GAN code (fjxmlzn/BSN)."""
