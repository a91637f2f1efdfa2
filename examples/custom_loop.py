"""A custom training loop with the BSN layers and ``bsn.update_u``: the paper's iteration
written out by hand (what ``bsn.BSNGAN.fit`` runs for you).

Per iteration: ``n_dis`` times [a real batch, ``z``; one D step on the hinge loss;
``bsn.update_u(D)``, the only place any ``u`` moves]; then one G step, after which no ``u``
is updated. Run it from the repository root:

    python examples/custom_loop.py --images path/to/folder --image_size 32 --steps 1000
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from gan import bsn  # noqa: E402

# The paper's initializers (fjxmlzn/BSN no_gamma-CNN/gan/op.py): kernels from a normal
# distribution with stddev 0.02 (truncated for D's convolutions). A normalized layer's forward
# ignores the scale of W, but Adam's steps have a fixed size, so the scale of W sets how fast the
# normalized kernel W / sigma(W) turns; Keras' default (glorot_uniform) trains at another pace.
NORMAL = keras.initializers.RandomNormal(stddev=0.02)
TRUNCATED = keras.initializers.TruncatedNormal(stddev=0.02)


def networks(latent_dim: int, image_size: int, sn_mode: str) -> tuple[keras.Model, ...]:
    """The example's G (dense, two transposed convs, batch norm) and D (two normalized convs,
    a normalized dense logit) for ``image_size`` x ``image_size`` RGB images."""
    s = image_size // 4
    generator = keras.Sequential(
        [
            keras.Input((latent_dim,)),
            keras.layers.Dense(s * s * 64, kernel_initializer=NORMAL),
            keras.layers.Reshape((s, s, 64)),
            bsn.BatchNorm(),
            keras.layers.ReLU(),
            keras.layers.Conv2DTranspose(
                32, 4, strides=2, padding="same", kernel_initializer=NORMAL
            ),
            bsn.BatchNorm(),
            keras.layers.ReLU(),
            keras.layers.Conv2DTranspose(
                3, 4, strides=2, padding="same", activation="tanh", kernel_initializer=NORMAL
            ),
        ]
    )
    discriminator = keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            bsn.SNConv2D(32, 3, padding="same", sn_mode=sn_mode, kernel_initializer=TRUNCATED),
            keras.layers.LeakyReLU(0.1),
            bsn.SNConv2D(
                64, 4, strides=2, padding="same", sn_mode=sn_mode, kernel_initializer=TRUNCATED
            ),
            keras.layers.LeakyReLU(0.1),
            keras.layers.Flatten(),
            bsn.SNDense(
                1, sn_mode=sn_mode, kernel_initializer=NORMAL
            ),  # BSN asked of a dense layer: plain SN
        ]
    )
    return generator, discriminator


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", required=True, help="a folder of images")
    p.add_argument("--image_size", type=int, default=32, help="a multiple of 4")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--n_dis", type=int, default=1)
    p.add_argument("--latent_dim", type=int, default=128)
    p.add_argument("--sn_mode", default="BSN")
    args = p.parse_args(argv)

    images = keras.utils.image_dataset_from_directory(
        args.images, label_mode=None, image_size=(args.image_size, args.image_size), batch_size=None
    )
    images = images.map(lambda x: x / 127.5 - 1.0).repeat().shuffle(1000)
    batches = iter(images.batch(args.batch_size, drop_remainder=True))

    g, d = networks(args.latent_dim, args.image_size, args.sn_mode)
    g_opt = keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8)
    d_opt = keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8)
    return train(g, d, g_opt, d_opt, batches, args.steps, args.n_dis, args.latent_dim)


def train(
    g: keras.Model,
    d: keras.Model,
    g_opt: keras.optimizers.Optimizer,
    d_opt: keras.optimizers.Optimizer,
    batches: Iterator[tf.Tensor],
    steps: int,
    n_dis: int,
    latent_dim: int,
    sample_z: Callable[[int], tf.Tensor] | None = None,
    log_every: int = 100,
) -> dict[str, float]:
    """``steps`` iterations of the paper on ``batches`` (real images in [-1, 1]); ``z`` from
    ``sample_z(batch)`` (default N(0, I)). Returns the last D and G losses."""
    if sample_z is None:

        def sample_z(n: int) -> tf.Tensor:
            return tf.random.normal([n, latent_dim])

    @tf.function
    def d_step(real: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
        fake = g(z, training=True)  # G in training mode: its batch norm moves, as the paper's
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.relu(1.0 - d(real))) + tf.reduce_mean(
                tf.nn.relu(1.0 + d(fake))
            )
        d_opt.apply_gradients(
            zip(tape.gradient(loss, d.trainable_variables), d.trainable_variables, strict=True)
        )
        bsn.update_u(d)  # after each D step, and only here
        return loss

    @tf.function
    def g_step(z: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(d(g(z, training=True)))
        g_opt.apply_gradients(
            zip(tape.gradient(loss, g.trainable_variables), g.trainable_variables, strict=True)
        )
        return loss  # no update_u: the G step moves no u

    for step in range(steps):
        for _ in range(n_dis):
            real = next(batches)
            z = sample_z(real.shape[0])
            d_loss = d_step(real, z)
        g_loss = g_step(z)  # the z of the last D step, as in the paper
        if step % log_every == 0 or step == steps - 1:
            sigmas = [float(layer.sigmas()[0]) for layer in bsn.normalized_layers(d)]
            print(
                f"step {step}: loss/d {float(d_loss):.4f} loss/g {float(g_loss):.4f} "
                f"sigmas {[round(s, 3) for s in sigmas]}"
            )
    return {"loss/d": float(d_loss), "loss/g": float(g_loss)}


if __name__ == "__main__":
    main()
