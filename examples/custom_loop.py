"""A custom training loop with the BSN layers and ``bsn.update_u``: the paper's iteration
written out by hand (what ``bsn.BSNGAN.fit`` runs for you), on every Keras backend.

Per iteration: ``n_dis`` times [a real batch, ``z``; one D step on the hinge loss;
``bsn.update_u(D)``, the only place any ``u`` moves]; then one G step on the last ``z``, after
which no ``u`` is updated. The loop is shared; the one piece written per backend is
``minimize`` (one optimizer step down a loss's gradient), as Keras' guides "Writing a training
loop from scratch" write it for TensorFlow (``GradientTape``), JAX (``stateless_call``,
``jax.value_and_grad``, ``stateless_apply``, compiled by ``jax.jit``) and PyTorch
(``backward()``). Run it from the repository root:

    KERAS_BACKEND=jax python examples/custom_loop.py --images path/to/folder --steps 1000
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402
from PIL import Image  # noqa: E402

from gan import bsn  # noqa: E402

# The paper's initializers (fjxmlzn/BSN no_gamma-CNN/gan/op.py): kernels from a normal
# distribution with stddev 0.02 (truncated for D's convolutions). A normalized layer's forward
# ignores the scale of W, but Adam's steps have a fixed size, so the scale of W sets how fast the
# normalized kernel W / sigma(W) turns; Keras' default (glorot_uniform) trains at another pace.
NORMAL = keras.initializers.RandomNormal(stddev=0.02)
TRUNCATED = keras.initializers.TruncatedNormal(stddev=0.02)
BACKEND = keras.backend.backend()
# minimize(model, optimizer, inputs, loss_of_outputs, reads): one step of ``optimizer`` on
# ``model``'s trainable variables down the gradient of ``loss_of_outputs(*[model(x) for x in
# inputs])``, the model called in training mode (its batch norm moves); returns the loss.
# ``reads``: the other models the loss calls (D in G's loss), whose variables JAX's compiled
# step takes as arguments.
if BACKEND == "tensorflow":
    import tensorflow as tf

    def minimize(model, optimizer, inputs, loss_of_outputs, reads=()):
        """TensorFlow: the gradient from a ``GradientTape``."""
        with tf.GradientTape() as tape:
            loss = loss_of_outputs(*[model(x, training=True) for x in inputs])
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

elif BACKEND == "jax":
    import jax

    def pure_step(model, optimizer, loss_of_outputs, reads):
        """JAX: the step as a function of the variables' values, for ``jax.jit``:
        ``stateless_call`` runs the model, ``jax.value_and_grad`` differentiates, and
        ``stateless_apply`` steps; it returns the loss and the new values."""
        read_variables = [v for other in reads for v in other.variables]

        def loss_and_updates(trainable, non_trainable, read_values, inputs):
            outputs = []
            for x in inputs:
                y, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
                outputs.append(y)
            with keras.StatelessScope(
                state_mapping=list(zip(read_variables, read_values, strict=True))
            ):
                return loss_of_outputs(*outputs), non_trainable

        def step(trainable, non_trainable, slots, read_values, inputs):
            grad_fn = jax.value_and_grad(loss_and_updates, has_aux=True)
            (loss, non_trainable), grads = grad_fn(trainable, non_trainable, read_values, inputs)
            trainable, slots = optimizer.stateless_apply(slots, grads, trainable)
            return loss, (trainable, non_trainable, slots)

        return jax.jit(step)

    compiled = {}

    def minimize(model, optimizer, inputs, loss_of_outputs, reads=()):
        """JAX: the compiled :func:`pure_step`, its new values assigned to the variables."""
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        key = (model, optimizer, loss_of_outputs)
        if key not in compiled:
            compiled[key] = pure_step(model, optimizer, loss_of_outputs, reads)
        groups = (model.trainable_variables, model.non_trainable_variables, optimizer.variables)
        read_values = [v.value for other in reads for v in other.variables]
        loss, new_values = compiled[key](
            *[[v.value for v in group] for group in groups], read_values, list(inputs)
        )
        for group, values in zip(groups, new_values, strict=True):
            for variable, value in zip(group, values, strict=True):
                variable.assign(value)
        return loss

elif BACKEND == "torch":
    import torch

    def minimize(model, optimizer, inputs, loss_of_outputs, reads=()):
        """PyTorch: the gradient from ``loss.backward()``."""
        model.zero_grad()
        loss = loss_of_outputs(*[model(x, training=True) for x in inputs])
        loss.backward()
        grads = [v.value.grad for v in model.trainable_variables]
        with torch.no_grad():
            optimizer.apply(grads, model.trainable_variables)
        return loss


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


def load_images(folder: str, image_size: int) -> np.ndarray:
    """Every image under ``folder`` (subfolders too) resized to ``image_size`` and scaled to
    [-1, 1] (the generator's tanh range), as one float32 NHWC array."""
    paths = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if name.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".gif"))
    )
    size = (image_size, image_size)
    pixels = [np.asarray(Image.open(p).convert("RGB").resize(size)) for p in paths]
    return np.stack(pixels).astype("float32") / 127.5 - 1.0


def shuffled_batches(images: np.ndarray, batch_size: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Batches of ``images``, reshuffled each epoch, without end."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(images) - batch_size + 1, batch_size):
            yield images[order[start : start + batch_size]]


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

    batches = shuffled_batches(load_images(args.images, args.image_size), args.batch_size)
    g, d = networks(args.latent_dim, args.image_size, args.sn_mode)
    g_opt = keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8)
    d_opt = keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8)
    return train(g, d, g_opt, d_opt, batches, args.steps, args.n_dis, args.latent_dim)


def train(
    g: keras.Model,
    d: keras.Model,
    g_opt: keras.optimizers.Optimizer,
    d_opt: keras.optimizers.Optimizer,
    batches: Iterator[Any],
    steps: int,
    n_dis: int,
    latent_dim: int,
    sample_z: Callable[[int], Any] | None = None,
    log_every: int = 100,
) -> dict[str, float]:
    """``steps`` iterations of the paper on ``batches`` (real images in [-1, 1]); ``z`` from
    ``sample_z(batch)`` (default N(0, I)). Returns the last D and G losses."""
    if sample_z is None:
        seed = keras.random.SeedGenerator(0)

        def sample_z(n: int) -> Any:
            return keras.random.normal((n, latent_dim), seed=seed)

    def d_hinge(d_real: Any, d_fake: Any) -> Any:
        return ops.mean(ops.relu(1.0 - d_real)) + ops.mean(ops.relu(1.0 + d_fake))

    def g_hinge(fake: Any) -> Any:
        return -ops.mean(d(fake))

    def d_step(real: Any, z: Any) -> Any:
        fake = ops.stop_gradient(g(z, training=True))  # G's batch norm moves, as the paper's
        loss = minimize(d, d_opt, [real, fake], d_hinge)
        bsn.update_u(d)  # after each D step, and only here
        return loss

    def g_step(z: Any) -> Any:
        return minimize(g, g_opt, [z], g_hinge, reads=[d])  # no u moves

    if BACKEND == "tensorflow":  # TensorFlow's eager mode is slow: compile the steps
        d_step, g_step = tf.function(d_step), tf.function(g_step)

    for step in range(steps):
        for _ in range(n_dis):
            real = next(batches)
            z = sample_z(real.shape[0])
            d_loss = d_step(real, z)
        g_loss = g_step(z)  # the z of the last D step, as in the paper
        if step % log_every == 0 or step == steps - 1:
            sigmas = [to_float(layer.sigmas()[0]) for layer in bsn.normalized_layers(d)]
            print(
                f"step {step}: loss/d {to_float(d_loss):.4f} loss/g {to_float(g_loss):.4f} "
                f"sigmas {[round(s, 3) for s in sigmas]}"
            )
    return {"loss/d": to_float(d_loss), "loss/g": to_float(g_loss)}


def to_float(x: Any) -> float:
    """A scalar tensor of any backend as a Python float."""
    return float(ops.convert_to_numpy(ops.stop_gradient(x)))


if __name__ == "__main__":
    main()
