"""Speed and memory of ``gan.bsn.BSNGAN.fit`` on the paper's CIFAR-10 CNN, on one Keras backend.

    python benchmarks/library_step.py --backend jax
    python benchmarks/library_step.py --backend all --rounds 2   # one process per backend, in turn

Per configuration (SN and BSN, without and with the diagnostics): the median milliseconds of
one ``fit`` step (one paper iteration, n_dis 1, the D and G batch ``--batch_size``), the achieved
GFLOP/s (the analytic FLOPs of the networks' convolutions and matmuls: forward, and twice that
for each backward, over the step's time) against a ``[n, n] @ [n, n]`` fp32 matmul probe on the
same backend, and the peak memory (the accelerator's where the backend reports it, else the
process's peak RSS). The networks are built here from ``gan.bsn`` layers as
``gan/networks/cnn.py`` builds them (the runner's networks import TensorFlow); this script
imports TensorFlow only on the tensorflow backend, so it runs where only Keras, the backend and
this project's wheel are installed (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("tensorflow", "jax", "torch", "all"), default="tensorflow")
    p.add_argument("--rounds", type=int, default=1, help="with --backend all: rounds of three")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--iters", type=int, default=20, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation)")
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier (1.0: paper)")
    p.add_argument("--matmul_n", type=int, default=4096, help="matmul probe size")
    p.add_argument(
        "--configs",
        default="SN:no,SN:yes,BSN:no,BSN:yes",
        help="sn_mode:diagnostics pairs to time, comma-separated",
    )
    return p.parse_args(argv)


BACKENDS = ("tensorflow", "jax", "torch")


def run_interleaved(args: argparse.Namespace) -> None:
    """This script once per backend in its own process, in turn, ``args.rounds`` times (the
    figures of one such run on a shared machine are comparable; runs at other loads are not)."""
    import subprocess

    flags = [
        f"--{name}={getattr(args, name)}"
        for name in ("batch_size", "iters", "warmup", "width", "matmul_n", "configs")
    ]
    for r in range(args.rounds):
        for backend in BACKENDS:
            print(f"## round {r + 1}, {backend}", flush=True)
            script = os.path.abspath(__file__)
            subprocess.run([sys.executable, script, f"--backend={backend}", *flags], check=True)


ARGS = parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.backend == "all":
    run_interleaved(ARGS)
    sys.exit(0)
if ARGS is not None:
    os.environ["KERAS_BACKEND"] = ARGS.backend  # before Keras is first imported

import keras  # noqa: E402
import numpy as np  # noqa: E402

from gan import bsn  # noqa: E402

# (filters, kernel size, stride) of the discriminator's convolutions; the generator's channels.
D_CONVS = ((64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1), (256, 4, 2), (512, 3, 1))
G_CHANNELS = (512, 256, 128, 64)
LATENT, MG, IMAGE = 128, 4, 32


def channels(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


def cifar_networks(sn_mode: str, width: float) -> tuple[keras.Model, keras.Model]:
    """The paper's CIFAR-10 generator and discriminator (gan/networks/cnn.py) as Sequentials;
    normal(0.02) initializers, truncated normal(0.02) for D's convolutions."""
    normal = keras.initializers.RandomNormal(stddev=0.02)
    g = [channels(c, width) for c in G_CHANNELS]
    generator = keras.Sequential(
        [
            keras.Input((LATENT,)),
            keras.layers.Dense(MG * MG * g[0], kernel_initializer=normal),
            bsn.BatchNorm(),
            keras.layers.ReLU(),
            keras.layers.Reshape((MG, MG, g[0])),
        ]
        + [
            layer
            for c in g[1:]
            for layer in (
                keras.layers.Conv2DTranspose(
                    c, 4, strides=2, padding="same", kernel_initializer=normal
                ),
                bsn.BatchNorm(),
                keras.layers.ReLU(),
            )
        ]
        + [keras.layers.Conv2DTranspose(3, 3, padding="same", activation="tanh")]
    )
    d_layers: list = [keras.Input((IMAGE, IMAGE, 3))]
    for f, k, s in D_CONVS:
        d_layers += [
            bsn.SNConv2D(
                channels(f, width),
                k,
                strides=s,
                padding="same",
                sn_mode=sn_mode,
                kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            ),
            keras.layers.LeakyReLU(0.1),
        ]
    d_layers += [keras.layers.Flatten(), bsn.SNDense(1, sn_mode=sn_mode, kernel_initializer=normal)]
    return generator, keras.Sequential(d_layers)


def forward_flops(model: keras.Model) -> float:
    """Multiply-add FLOPs (2 per MAC) of one sample's forward through the convolutions,
    transposed convolutions and dense layers of ``model``."""
    total = 0.0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        out = layer.output.shape
        positions = float(np.prod(out[1:-1])) if len(out) == 4 else 1.0
        if isinstance(layer, keras.layers.Conv2DTranspose):
            # each input position scatters through the whole kernel
            positions = float(np.prod(layer.input.shape[1:-1]))
        total += 2.0 * positions * float(np.prod(kernel.shape))
    return total


def iteration_flops(generator: keras.Model, discriminator: keras.Model, batch: int) -> float:
    """FLOPs of one iteration (n_dis 1): the D step's G forward, D forward and backward on the
    real and generated batches; the G step's G forward, D forward, D backward to the images
    and G backward. A backward counts twice its forward."""
    f_g, f_d = forward_flops(generator), forward_flops(discriminator)
    d_step = batch * (f_g + 2 * 3 * f_d)
    g_step = batch * (3 * f_g + 3 * f_d)
    return d_step + g_step


def sync(x) -> float:
    """Wait for ``x`` (asynchronous backends) and return it as a float."""
    return float(keras.ops.convert_to_numpy(x))


def matmul_gflops(n: int, repeats: int = 5) -> float:
    """Median fp32 GFLOP/s of one ``[n, n] @ [n, n]`` (2 n^3 FLOPs) on this backend."""
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((n, n)).astype("float32"))
    b = keras.ops.convert_to_tensor(rng.standard_normal((n, n)).astype("float32"))
    sync(keras.ops.sum(keras.ops.matmul(a, b)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(keras.ops.sum(keras.ops.matmul(a, b)))
        times.append(time.perf_counter() - start)
    return 2.0 * n**3 / statistics.median(times) / 1e9


def reset_peak_memory() -> None:
    """Start the accelerator's peak-memory count afresh where the backend can."""
    if keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # TensorFlow on its own backend only

        if tf.config.list_logical_devices("GPU"):
            tf.config.experimental.reset_memory_stats("GPU:0")


def peak_memory() -> str:
    """The accelerator's peak bytes in use since the last reset, else the process's peak RSS."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (GPU)"
    elif backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            return f"{stats['peak_bytes_in_use'] / 2**30:.2f} GiB (GPU, process peak)"
    else:
        import tensorflow as tf  # TensorFlow on its own backend only

        if tf.config.list_logical_devices("GPU"):
            peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
            return f"{peak / 2**30:.2f} GiB (GPU)"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return f"{rss / 2**20:.2f} GiB (peak RSS)"


class StepTimer(keras.callbacks.Callback):
    """Seconds of each fit step, waiting for the step's logs (asynchronous backends)."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []
        self.start = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        sync(logs["loss/g"])
        self.times.append(time.perf_counter() - self.start)


def time_config(args: argparse.Namespace, sn_mode: str, diagnostics: bool) -> tuple:
    """(median ms/step, FLOPs/step, peak memory) of BSNGAN.fit with these settings."""
    keras.utils.set_random_seed(0)
    generator, discriminator = cifar_networks(sn_mode, args.width)
    gan = bsn.BSNGAN(generator, discriminator)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-8),
        g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-8),
        loss="hinge",
        diagnostics=diagnostics,
    )
    steps = args.warmup + args.iters
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (steps * args.batch_size, IMAGE, IMAGE, 3)).astype("float32")
    timer = StepTimer()
    reset_peak_memory()
    gan.fit(
        images, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[timer]
    )
    ms = 1000.0 * statistics.median(timer.times[args.warmup :])
    return ms, iteration_flops(generator, discriminator, args.batch_size), peak_memory()


def main(args: argparse.Namespace) -> None:
    bound = matmul_gflops(args.matmul_n)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"backend {keras.backend.backend()}, batch {args.batch_size}, width {args.width}")
    print(f"load average at start {load}")
    print(f"fp32 matmul ({args.matmul_n}^2): {bound:.0f} GFLOP/s")
    print("| sn_mode | diagnostics | ms/iter | GFLOP/iter | achieved GFLOP/s | of matmul | peak |")
    print("|---|---|---|---|---|---|---|")
    for config in args.configs.split(","):
        sn_mode, diagnostics = config.split(":")
        ms, flops, peak = time_config(args, sn_mode, diagnostics == "yes")
        achieved = flops / (ms / 1000.0) / 1e9
        print(
            f"| {sn_mode} | {diagnostics} | {ms:.1f} | {flops / 1e9:.2f} "
            f"| {achieved:.0f} | {achieved / bound:.0%} | {peak} |"
        )


if __name__ == "__main__":
    main(ARGS)
