"""The choices the library core (``gan.bsn``) and the task runner (``gan.config``) share.

This module imports nothing, so the run config can read these without loading Keras or
TensorFlow (the pre-flight check and the command line run without them).
"""

# Spectral normalization of a layer: none, SN (W / sigma(W)) or BSN (convolutions:
# W / ((sigma(W) + sigma(W^T)) / 2)).
SN_MODES = ("none", "SN", "BSN")
# The discriminator's learnable gammas: none, one shared by every layer, one per layer.
GAMMAS = ("none", "same", "diff")
# TF1's fused batch norm (what the original's tf.contrib batch_norm ran) raised any epsilon
# below this to it.
FUSED_BN_MIN_EPSILON = 1.001e-5
