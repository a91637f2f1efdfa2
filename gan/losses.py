"""GAN losses (docs/faithfulness.md section 5) and the discriminator's input-gradient norms
("slopes")."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

SLOPE_EPS = 1e-8


def hinge_d_real(d_real: tf.Tensor) -> tf.Tensor:
    """The real term of the hinge D loss: mean(relu(1 - D(x)))."""
    return tf.reduce_mean(tf.nn.relu(1.0 - d_real))


def hinge_d_fake(d_fake: tf.Tensor) -> tf.Tensor:
    """The generated term of the hinge D loss: mean(relu(1 + D(G(z))))."""
    return tf.reduce_mean(tf.nn.relu(1.0 + d_fake))


def wasserstein_d_real(d_real: tf.Tensor) -> tf.Tensor:
    """The real term of the WGAN D loss: -mean(D(x))."""
    return -tf.reduce_mean(d_real)


def wasserstein_d_fake(d_fake: tf.Tensor) -> tf.Tensor:
    """The generated term of the WGAN D loss: mean(D(G(z)))."""
    return tf.reduce_mean(d_fake)


# config ``loss`` -> (real term, generated term); the D loss is their sum (``wgan_gp`` adds
# its gradient penalty).
D_TERMS: dict[str, tuple[Callable[[tf.Tensor], tf.Tensor], Callable[[tf.Tensor], tf.Tensor]]] = {
    "hinge": (hinge_d_real, hinge_d_fake),
    "wgan_gp": (wasserstein_d_real, wasserstein_d_fake),
}


def d_loss(loss: str, d_real: tf.Tensor, d_fake: tf.Tensor) -> dict[str, tf.Tensor]:
    """The D loss of config ``loss`` without WGAN-GP's penalty, and its two terms."""
    real_term, fake_term = D_TERMS[loss]
    real, fake = real_term(d_real), fake_term(d_fake)
    return {"loss/d": real + fake, "loss/d/real": real, "loss/d/fake": fake}


def generator_loss(d_fake: tf.Tensor) -> dict[str, tf.Tensor]:
    """G loss of both families: -mean(D(G(z)))."""
    fake = -tf.reduce_mean(d_fake)
    return {"loss/g": fake, "loss/g/fake": fake}


def slope_norms(grad: tf.Tensor) -> tf.Tensor:
    """Per-sample ``sqrt(||grad||^2 + 1e-8)`` of input gradients ``[B, ...]``."""
    axes = list(range(1, len(grad.shape)))
    return tf.sqrt(tf.reduce_sum(tf.square(grad), axis=axes) + SLOPE_EPS)


def input_slopes(discriminator: Callable[[tf.Tensor], tf.Tensor], x: tf.Tensor) -> tf.Tensor:
    """Per-sample ``sqrt(||d D(x) / d x||^2 + 1e-8)`` (D has no cross-sample terms)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = discriminator(x)
    return slope_norms(tape.gradient(out, x))


def gradient_penalty(
    discriminator: Callable[[tf.Tensor], tf.Tensor],
    real: tf.Tensor,
    fake: tf.Tensor,
    alpha: tf.Tensor,
) -> tf.Tensor:
    """WGAN-GP term mean((||grad D(x_hat)|| - 1)^2) at x_hat = x + alpha (G(z) - x)."""
    x_hat = real + alpha * (fake - real)
    return tf.reduce_mean(tf.square(input_slopes(discriminator, x_hat) - 1.0))
