"""GAN losses in ``keras.ops`` (docs/faithfulness.md section 5; fjxmlzn/BSN
no_gamma-CNN/gan/gan.py): the hinge and WGAN terms, the G loss, and the norms of D's input
gradients ("slopes") the WGAN-GP penalty and the diagnostics use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras import ops

SLOPE_EPS = 1e-8


def hinge_d_real(d_real: Any) -> Any:
    """The real term of the hinge D loss: mean(relu(1 - D(x)))."""
    return ops.mean(ops.relu(1.0 - d_real))


def hinge_d_fake(d_fake: Any) -> Any:
    """The generated term of the hinge D loss: mean(relu(1 + D(G(z))))."""
    return ops.mean(ops.relu(1.0 + d_fake))


def wasserstein_d_real(d_real: Any) -> Any:
    """The real term of the WGAN D loss: -mean(D(x))."""
    return -ops.mean(d_real)


def wasserstein_d_fake(d_fake: Any) -> Any:
    """The generated term of the WGAN D loss: mean(D(G(z)))."""
    return ops.mean(d_fake)


# config ``loss`` -> (real term, generated term); the D loss is their sum (``wgan_gp`` adds
# its gradient penalty).
D_TERMS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "hinge": (hinge_d_real, hinge_d_fake),
    "wgan_gp": (wasserstein_d_real, wasserstein_d_fake),
}


def d_loss(loss: str, d_real: Any, d_fake: Any) -> dict[str, Any]:
    """The D loss of config ``loss`` without WGAN-GP's penalty, and its two terms."""
    real_term, fake_term = D_TERMS[loss]
    real, fake = real_term(d_real), fake_term(d_fake)
    return {"loss/d": real + fake, "loss/d/real": real, "loss/d/fake": fake}


def generator_loss(d_fake: Any) -> dict[str, Any]:
    """G loss of both families: -mean(D(G(z)))."""
    fake = -ops.mean(d_fake)
    return {"loss/g": fake, "loss/g/fake": fake}


def slope_norms(grad: Any) -> Any:
    """Per-sample ``sqrt(||grad||^2 + 1e-8)`` of input gradients ``[B, ...]``."""
    axes = list(range(1, len(grad.shape)))
    return ops.sqrt(ops.sum(ops.square(grad), axis=axes) + SLOPE_EPS)


def interpolate(real: Any, fake: Any, alpha: Any) -> Any:
    """WGAN-GP's ``x_hat = x + alpha (G(z) - x)``, ``alpha`` one U(0, 1) draw per sample."""
    return real + alpha * (fake - real)


def penalty_of_slopes(slopes: Any) -> Any:
    """WGAN-GP's ``mean((||grad D(x_hat)|| - 1)^2)`` from the per-sample slopes."""
    return ops.mean(ops.square(slopes - 1.0))
