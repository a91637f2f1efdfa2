"""Milliseconds of each convolution of the paper's CIFAR-10 CNN alone, on one Keras backend.

    python benchmarks/backend_ops.py --backend jax

Per layer of ``benchmarks/library_step.py``'s networks (the discriminator's convolutions, the
generator's transposed convolutions) at batch ``--batch_size``: the forward through
``keras.ops.conv`` / ``keras.ops.conv_transpose`` (the ops the layers run), and the forward
with the gradients to the input and the kernel. On JAX a third column takes the transposed
convolutions' gradients as ``BSNGAN``'s JAX step does (``gan/bsn/steps/jax_conv.py``). Each
figure is the median of ``--repeats`` runs after one untimed (compiling) run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default="tensorflow")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier (1.0: paper)")
    return p.parse_args(argv)


ARGS = parse() if __name__ == "__main__" else None
if ARGS is not None:
    os.environ["KERAS_BACKEND"] = ARGS.backend  # before Keras is first imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from benchmarks.library_step import D_CONVS, G_CHANNELS, IMAGE, MG, channels  # noqa: E402


def layers(width: float) -> list[tuple]:
    """(name, transposed, input shape without batch, kernel shape, stride) of each layer."""
    out, size, c_in = [], IMAGE, 3
    for f, k, s in D_CONVS:
        c = channels(f, width)
        out.append(
            (
                f"D conv {size}x{size}x{c_in}->{c} k{k}s{s}",
                False,
                (size, size, c_in),
                (k, k, c_in, c),
                s,
            )
        )
        size, c_in = size // s, c
    g = [channels(c, width) for c in G_CHANNELS]
    size = MG
    for c_in, c in zip(g, g[1:], strict=False):
        out.append(
            (
                f"G convT {size}x{size}x{c_in}->{c} k4s2",
                True,
                (size, size, c_in),
                (4, 4, c, c_in),
                2,
            )
        )
        size *= 2
    out.append(
        (f"G convT {size}x{size}x{g[-1]}->3 k3s1", True, (size, size, g[-1]), (3, 3, 3, g[-1]), 1)
    )
    return out


def op(transposed: bool, stride: int):
    def apply(x, w):
        if transposed:
            return ops.conv_transpose(x, w, strides=stride, padding="same")
        return ops.conv(x, w, strides=stride, padding="same")

    return apply


def with_gradients(fn):
    """``(x, w, c) -> (y, dL/dx, dL/dw)`` for ``L = sum(fn(x, w) * c)``, compiled as the
    backend's step is (jax.jit, tf.function; PyTorch eager)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def loss(x, w, c):
            y = fn(x, w)
            return ops.sum(y * c), y

        grad = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)

        def run(x, w, c):
            (_, y), (dx, dw) = grad(x, w, c)
            return y, dx, dw

        return jax.jit(run)
    if backend == "torch":
        import torch

        def run(x, w, c):
            x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
            y = fn(x, w)
            dx, dw = torch.autograd.grad(ops.sum(y * c), (x, w))
            return y, dx, dw

        return run
    import tensorflow as tf  # TensorFlow on its own backend only

    @tf.function
    def run(x, w, c):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = fn(x, w)
            loss = ops.sum(y * c)
        return (y,) + tuple(tape.gradient(loss, [x, w]))

    return run


def median_ms(fn, args: tuple, repeats: int) -> float:
    """Median milliseconds of ``fn(*args)`` until its outputs are on the host."""

    def run() -> None:
        out = fn(*args)
        for x in out if isinstance(out, tuple) else (out,):
            keras.ops.convert_to_numpy(x)

    run()  # compiles
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def main(args: argparse.Namespace) -> None:
    backend = keras.backend.backend()
    jax_step = backend == "jax"
    rng = np.random.default_rng(0)
    print(f"backend {backend}, batch {args.batch_size}, width {args.width}")
    extra = " | fwd + grads, BSNGAN's JAX step |" if jax_step else " |"
    print("| layer | forward | forward + grads" + extra)
    print("|---|---|---|" + ("---|" if jax_step else ""))
    totals = [0.0, 0.0, 0.0]
    for name, transposed, x_shape, w_shape, stride in layers(args.width):
        x = ops.convert_to_tensor(rng.standard_normal((args.batch_size,) + x_shape, "float32"))
        w = ops.convert_to_tensor(rng.standard_normal(w_shape, "float32"))
        fn = op(transposed, stride)
        cotangent = ops.convert_to_tensor(rng.standard_normal(fn(x, w).shape, "float32"))
        forward = fn
        if jax_step:
            import jax

            forward = jax.jit(fn)
        times = [median_ms(forward, (x, w), args.repeats)]
        times.append(median_ms(with_gradients(fn), (x, w, cotangent), args.repeats))
        if jax_step:
            from gan.bsn.steps.jax_conv import fast_conv_transpose_gradient

            with fast_conv_transpose_gradient():  # the jit traces at the first call, inside
                times.append(median_ms(with_gradients(fn), (x, w, cotangent), args.repeats))
        totals = [t + m for t, m in zip(totals, times, strict=False)]
        print(f"| {name} | " + " | ".join(f"{m:.1f}" for m in times) + " |", flush=True)
    print("| total | " + " | ".join(f"{m:.1f}" for m in totals[: len(times)]) + " |")


if __name__ == "__main__":
    main(ARGS)
