"""The runner's GAN losses: the core's backend-neutral terms (:mod:`gan.bsn.losses`) and the
TensorFlow input-gradient norms and WGAN-GP penalty (:mod:`gan.bsn.steps.tensorflow`)."""

from gan.bsn.losses import (
    D_TERMS,
    SLOPE_EPS,
    d_loss,
    generator_loss,
    hinge_d_fake,
    hinge_d_real,
    slope_norms,
    wasserstein_d_fake,
    wasserstein_d_real,
)
from gan.bsn.steps.tensorflow import gradient_penalty, input_slopes

__all__ = [
    "D_TERMS",
    "SLOPE_EPS",
    "d_loss",
    "generator_loss",
    "gradient_penalty",
    "hinge_d_fake",
    "hinge_d_real",
    "input_slopes",
    "slope_norms",
    "wasserstein_d_fake",
    "wasserstein_d_real",
]
