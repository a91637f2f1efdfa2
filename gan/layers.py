"""The runner's view of the paper's layers: the library core's layers (:mod:`gan.bsn.layers`,
backend-neutral) with the runner's TensorFlow-only ``leaky_relu`` (custom gradient) and
``bn_relu_deconv`` (:mod:`gan.networks.tf_ops`)."""

from gan.bsn.batch_norm import BatchNorm
from gan.bsn.layers import (
    FIRST_REPLICA,
    SNConv2D,
    SNDense,
    SpectralNormalized,
    check_scale,
    check_sn_mode,
)
from gan.modes import FUSED_BN_MIN_EPSILON
from gan.networks.tf_ops import bn_relu_deconv, leaky_relu

__all__ = [
    "FIRST_REPLICA",
    "FUSED_BN_MIN_EPSILON",
    "BatchNorm",
    "SNConv2D",
    "SNDense",
    "SpectralNormalized",
    "bn_relu_deconv",
    "check_scale",
    "check_sn_mode",
    "leaky_relu",
]
