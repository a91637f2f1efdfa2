"""GAN losses (SPEC section 5) and the discriminator's input-gradient norms ("slopes")."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

SLOPE_EPS = 1e-8


def hinge_d(d_real: tf.Tensor, d_fake: tf.Tensor) -> dict[str, tf.Tensor]:
    """Hinge D loss: mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))."""
    real = tf.reduce_mean(tf.nn.relu(1.0 - d_real))
    fake = tf.reduce_mean(tf.nn.relu(1.0 + d_fake))
    return {"loss/d": real + fake, "loss/d/real": real, "loss/d/fake": fake}


def wasserstein_d(d_real: tf.Tensor, d_fake: tf.Tensor) -> dict[str, tf.Tensor]:
    """WGAN D loss without the penalty: mean(D(G(z))) - mean(D(x))."""
    real = -tf.reduce_mean(d_real)
    fake = tf.reduce_mean(d_fake)
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


def gradient_penalty(discriminator: Callable[[tf.Tensor], tf.Tensor], real: tf.Tensor,
                     fake: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """WGAN-GP term mean((||grad D(x_hat)|| - 1)^2) at x_hat = x + alpha (G(z) - x)."""
    x_hat = real + alpha * (fake - real)
    return tf.reduce_mean(tf.square(input_slopes(discriminator, x_hat) - 1.0))
