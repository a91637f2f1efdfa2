"""BSN in a keras.io-style DCGAN, trained with ``fit()`` on a folder of your own images.

The networks are keras.io's DCGAN ("DCGAN to generate face images") with two changes: the
discriminator's ``Conv2D``/``Dense`` become ``bsn.SNConv2D``/``bsn.SNDense`` (BSN, and no
sigmoid: the hinge loss takes logits), and ``bsn.BSNGAN`` replaces the hand-written GAN class.
Run it from the repository root:

    python examples/dcgan_fit.py --images path/to/folder --image_size 64 --steps 10000

``--images`` is any folder of images (subfolders are read too; labels are ignored). It runs on
every Keras backend: ``KERAS_BACKEND=jax python examples/dcgan_fit.py ...``.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gan import bsn  # noqa: E402

# The paper's initializers (fjxmlzn/BSN no_gamma-CNN/gan/op.py): kernels from a normal
# distribution with stddev 0.02 (truncated for D's convolutions). A normalized layer's forward
# ignores the scale of W, but Adam's steps have a fixed size, so the scale of W sets how fast the
# normalized kernel W / sigma(W) turns; Keras' default (glorot_uniform) trains at another pace.
NORMAL = keras.initializers.RandomNormal(stddev=0.02)
TRUNCATED = keras.initializers.TruncatedNormal(stddev=0.02)


def load_images(folder: str, image_size: int) -> np.ndarray:
    """Every image under ``folder`` (subfolders too) resized to ``image_size`` and scaled to
    [-1, 1] (the generator's tanh range), as one float32 NHWC array: NumPy runs on every Keras
    backend."""
    paths = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if name.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".gif"))
    )
    size = (image_size, image_size)
    pixels = [
        np.asarray(Image.open(p).convert("RGB").resize(size, Image.Resampling.BILINEAR))
        for p in paths
    ]
    return np.stack(pixels).astype("float32") / 127.5 - 1.0


def build_generator(latent_dim: int, image_size: int) -> keras.Model:
    s = image_size // 8
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            keras.layers.Dense(s * s * 128, kernel_initializer=NORMAL),
            keras.layers.Reshape((s, s, 128)),
            keras.layers.Conv2DTranspose(
                128, 4, strides=2, padding="same", kernel_initializer=NORMAL
            ),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Conv2DTranspose(
                256, 4, strides=2, padding="same", kernel_initializer=NORMAL
            ),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Conv2DTranspose(
                512, 4, strides=2, padding="same", kernel_initializer=NORMAL
            ),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Conv2D(3, 5, padding="same", activation="tanh", kernel_initializer=NORMAL),
        ],
        name="generator",
    )


def build_discriminator(image_size: int, sn_mode: str) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            bsn.SNConv2D(
                64, 4, strides=2, padding="same", sn_mode=sn_mode, kernel_initializer=TRUNCATED
            ),
            keras.layers.LeakyReLU(0.2),
            bsn.SNConv2D(
                128, 4, strides=2, padding="same", sn_mode=sn_mode, kernel_initializer=TRUNCATED
            ),
            keras.layers.LeakyReLU(0.2),
            bsn.SNConv2D(
                128, 4, strides=2, padding="same", sn_mode=sn_mode, kernel_initializer=TRUNCATED
            ),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Flatten(),
            bsn.SNDense(1, sn_mode=sn_mode, kernel_initializer=NORMAL),
        ],
        name="discriminator",
    )


def main(argv: list[str] | None = None) -> keras.Model:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", required=True, help="a folder of images")
    p.add_argument("--out", default="dcgan_out", help="samples, logs and the saved model")
    p.add_argument("--image_size", type=int, default=64, help="a multiple of 8")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument(
        "--steps",
        type=int,
        default=10000,
        help="G steps (paper iterations), rounded up to whole epochs",
    )
    p.add_argument("--steps_per_epoch", type=int, default=500, help="a backup after each")
    p.add_argument("--latent_dim", type=int, default=128)
    p.add_argument("--sn_mode", default="BSN", help="SN or BSN")
    p.add_argument("--sample_every", type=int, default=500)
    args = p.parse_args(argv)

    images = load_images(args.images, args.image_size)

    gan = bsn.BSNGAN(
        build_generator(args.latent_dim, args.image_size),
        build_discriminator(args.image_size, args.sn_mode),
    )
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8),
        g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8),
        loss="hinge",
        n_dis=1,
    )
    per_epoch = min(args.steps, args.steps_per_epoch)
    # An epoch of per_epoch batches; Keras draws them from the shuffled array, starting over
    # when it runs out.
    repeats = -(-per_epoch * args.batch_size // len(images))
    gan.fit(
        np.concatenate([images] * repeats),
        batch_size=args.batch_size,
        epochs=-(-args.steps // per_epoch),
        steps_per_epoch=per_epoch,
        callbacks=[
            bsn.SampleGrid(os.path.join(args.out, "samples"), every_n_steps=args.sample_every),
            bsn.SpectralNormLogger(os.path.join(args.out, "logs"), every_n_steps=10),
            keras.callbacks.BackupAndRestore(os.path.join(args.out, "backup")),
        ],
    )
    gan.save(os.path.join(args.out, "gan.keras"))
    return gan


if __name__ == "__main__":
    main()
