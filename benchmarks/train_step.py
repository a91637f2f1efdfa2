"""Training-step speed of the CNN configs: ``python benchmarks/train_step.py``.

Prints, per config, the median milliseconds per full iteration (n_dis D steps with u updates and
one G step) with and without the per-iteration diagnostics (sigmas and input-gradient norms),
the training images consumed per second, and the process's peak RSS. Data is random uint8 of the
dataset's real shape, so no download is needed.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from gan.config import validate_run_config  # noqa: E402
from gan.data import IMAGE_SIZE  # noqa: E402
from gan.trainer import Trainer  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("datasets", ["cifar10"], "CNN configs to measure: cifar10, stl10, celeba")
flags.DEFINE_integer("iters", 30, "timed iterations per setting (after warm-up)")
flags.DEFINE_integer("warmup", 3, "untimed iterations per setting")
flags.DEFINE_integer("batch_size", 64, "batch size")
flags.DEFINE_integer("n_dis", 1, "D steps per iteration")
flags.DEFINE_string("sn_mode", "SN", "SN or BSN")
flags.DEFINE_integer("num_images", 5000, "size of the random in-memory dataset")
flags.DEFINE_bool("jit_compile", False, "compile the iteration with XLA")

MG = {"cifar10": 4, "stl10": 6, "celeba": 8}


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_iterations(trainer: Trainer, with_summary: bool, iters: int, warmup: int) -> float:
    """Median seconds of one iteration, reading one scalar back to wait for the device."""
    for _ in range(warmup):
        float(trainer.train_iteration(with_summary)["loss/g"])
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        float(trainer.train_iteration(with_summary)["loss/g"])
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv: list[str]) -> None:
    del argv
    print(f"{'config':<10} {'diagnostics':>11} {'ms/iter':>9} {'images/s':>9}")
    for name in FLAGS.datasets:
        size = IMAGE_SIZE[name]
        images = np.random.default_rng(0).integers(
            0, 256, (FLAGS.num_images, size, size, 3), dtype=np.uint8)
        cfg = validate_run_config(dict(
            dataset=name, mg=MG[name], iteration=10**9, batch_size=FLAGS.batch_size,
            n_dis=FLAGS.n_dis, sn_mode=FLAGS.sn_mode, metrics=[],
            jit_compile=FLAGS.jit_compile))
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = Trainer(cfg, run_dir, images, seed=0)
            for diag in (True, False):
                sec = time_iterations(trainer, diag, FLAGS.iters, FLAGS.warmup)
                rate = FLAGS.batch_size * FLAGS.n_dis / sec
                print(f"{name:<10} {str(diag):>11} {sec * 1000:9.1f} {rate:9.1f}", flush=True)
    print(f"peak RSS: {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    app.run(main)
