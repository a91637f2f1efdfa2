"""Replace ``keras.layers.SpectralNormalization`` in an existing discriminator with BSN.

What changes, and why (docs/faithfulness.md section 4 has the paper's definitions):

* **The gradient goes through sigma.** Keras' wrapper, on every ``training=True`` call,
  *assigns* ``W / sigma`` to the wrapped layer's kernel variable and then runs the plain layer,
  with ``u`` and ``v`` under ``stop_gradient``. The optimizer therefore sees the gradient of the
  plain layer at ``W / sigma``, as if sigma did not depend on ``W``. ``bsn.SNConv2D`` keeps the
  raw ``W`` and computes with ``W / sigma(W)`` inside the forward pass, so the gradient includes
  sigma's dependence on ``W``, as in the paper's code.
* **``u`` moves once per discriminator step.** Keras' wrapper moves ``u`` on every call made
  with ``training=True``: twice per D step (real and fake batches) and again for the D calls
  inside the generator step. Here a forward never moves ``u``; ``bsn.BSNGAN`` (or your loop,
  through ``bsn.update_u``) moves it after each D optimizer step only.
* **BSN, scale and gamma.** ``sn_mode="BSN"`` divides a convolution's kernel by the mean of
  sigma(W) and sigma of W with its in/out channels swapped (two power iterations, two ``u``);
  ``scale`` multiplies the normalized kernel (the paper's SSN/BSSN); ``learnable_gamma`` adds a
  trained scalar. A dense layer in BSN mode computes plain SN, as the original did.

``replace_spectral_normalization`` clones a Sequential or functional model, turning every
``SpectralNormalization(Conv2D | Dense)`` into ``bsn.SNConv2D`` / ``bsn.SNDense`` with the same
shape and the wrapped layer's current kernel and bias; other layers keep their weights. Run it
from the repository root:

    python examples/replace_keras_sn.py --images path/to/folder --image_size 32 --steps 100

It runs on every Keras backend (set ``KERAS_BACKEND``).
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


def existing_discriminator(image_size: int) -> keras.Model:
    """A discriminator as many Keras GANs write it, with Keras' spectral normalization."""
    sn = keras.layers.SpectralNormalization
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            sn(keras.layers.Conv2D(32, 3, padding="same")),
            keras.layers.LeakyReLU(0.1),
            sn(keras.layers.Conv2D(64, 4, strides=2, padding="same")),
            keras.layers.LeakyReLU(0.1),
            keras.layers.Flatten(),
            sn(keras.layers.Dense(1)),
        ]
    )


def _normalized(layer: keras.layers.Layer, sn_mode: str, scale: float) -> keras.layers.Layer:
    """The bsn layer computing what ``layer`` (a SpectralNormalization wrapper) wraps."""
    inner = layer.layer
    # The normalized layers take every argument of Conv2D / Dense: the wrapped layer's config
    # carries over as it is.
    config = {**inner.get_config(), "sn_mode": sn_mode, "scale": scale, "name": layer.name}
    if isinstance(inner, keras.layers.Dense):
        return bsn.SNDense.from_config(config)
    if not isinstance(inner, keras.layers.Conv2D) or inner.groups != 1:
        raise ValueError(
            f"{layer.name}: bsn.SNConv2D replaces a Conv2D with groups=1; "
            f"{type(inner).__name__} {inner.get_config()} is not one"
        )
    return bsn.SNConv2D.from_config(config)


def replace_spectral_normalization(
    model: keras.Model, sn_mode: str = "BSN", scale: float = 1.0
) -> keras.Model:
    """A copy of ``model`` with every Keras ``SpectralNormalization`` layer replaced (see the
    module docstring); the weights are carried over."""

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.SpectralNormalization):
            return _normalized(layer, sn_mode, scale)
        return layer.__class__.from_config(layer.get_config())

    new = keras.models.clone_model(model, clone_function=clone)
    for old_layer, new_layer in zip(model.layers, new.layers, strict=True):
        if isinstance(old_layer, keras.layers.SpectralNormalization):
            new_layer.kernel.assign(old_layer.layer.kernel)
            new_layer.bias.assign(old_layer.layer.bias)
        else:
            new_layer.set_weights(old_layer.get_weights())
    return new


def main(argv: list[str] | None = None) -> keras.Model:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", required=True, help="a folder of images")
    p.add_argument("--image_size", type=int, default=32, help="a multiple of 4")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--latent_dim", type=int, default=128)
    p.add_argument("--sn_mode", default="BSN")
    p.add_argument("--scale", type=float, default=1.0)
    args = p.parse_args(argv)

    d = replace_spectral_normalization(
        existing_discriminator(args.image_size), args.sn_mode, args.scale
    )
    print("replaced:", [type(layer).__name__ for layer in bsn.normalized_layers(d)])
    s = args.image_size // 4
    g = keras.Sequential(
        [
            keras.Input((args.latent_dim,)),
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
    images = load_images(args.images, args.image_size)
    gan = bsn.BSNGAN(g, d)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8),
        g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8),
    )
    repeats = -(-args.steps * args.batch_size // len(images))
    gan.fit(
        np.concatenate([images] * repeats),
        batch_size=args.batch_size,
        steps_per_epoch=args.steps,
        verbose=2,
    )
    return gan


if __name__ == "__main__":
    main()
