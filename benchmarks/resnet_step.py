"""Speed and memory of the ResNet schedule: ``python benchmarks/resnet_step.py``.

For each image size (default 128, the paper's, and 32) it builds the ResNet networks, times full
iterations (``n_dis`` = 5 D steps of ``d_batch_size`` = 16 with u updates, then the G step on
``g_batch_size`` = 32) after warm-up, with the per-iteration diagnostics on (``summary_freq``
1, as the task configs run) and off, and reports the median ms per iteration and the peak RSS
of the process. Each size runs in its own process, so each peak RSS is that size's alone. Data
is random uint8 in memory (the streaming loader's own throughput: benchmarks/imagenet_loader.py).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["128", "32"], "image sizes to measure (4 * 2^k)")
flags.DEFINE_integer("iters", 3, "timed iterations per setting (after warm-up)")
flags.DEFINE_integer("warmup", 1, "untimed iterations per setting (the first one traces)")
flags.DEFINE_integer("n_dis", 5, "D steps per iteration")
flags.DEFINE_integer("d_batch_size", 16, "batch of each D step")
flags.DEFINE_integer("g_batch_size", 32, "batch of the G step")
flags.DEFINE_float("width", 1.0, "channel multiplier (1.0: the paper's networks)")
flags.DEFINE_string("sn_mode", "SN", "SN or BSN")
flags.DEFINE_bool("no_diagnostics", False, "also time iterations without diagnostics")
flags.DEFINE_integer("child", 0, "internal: measure this one size in this process")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(size: int) -> None:
    """Time one image size in this process and print one line per setting."""
    from gan.config import validate_run_config
    from gan.trainer import Trainer

    images = np.random.default_rng(0).integers(0, 256, (256, size, size, 3), dtype=np.uint8)
    cfg = validate_run_config(
        dict(
            dataset="imagenet" if size == 128 else "cifar10",
            network="resnet",
            network_width=FLAGS.width,
            iteration=10**9,
            n_dis=FLAGS.n_dis,
            d_batch_size=FLAGS.d_batch_size,
            g_batch_size=FLAGS.g_batch_size,
            sn_mode=FLAGS.sn_mode,
            metrics=[],
        )
    )
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, run_dir, images, seed=0)
        params = sum(
            int(np.prod(v.shape))
            for v in trainer.generator.trainable_variables
            + trainer.discriminator.trainable_variables
        )
        for diag in (True, False) if FLAGS.no_diagnostics else (True,):
            for _ in range(FLAGS.warmup):
                float(trainer.train_iteration(diag)["loss/g"])
            times = []
            for _ in range(FLAGS.iters):
                t0 = time.perf_counter()
                float(trainer.train_iteration(diag)["loss/g"])  # waits for the device
                times.append(time.perf_counter() - t0)
            ms = float(np.median(times)) * 1000
            print(
                f"{size:>4} {FLAGS.width:>5} {params / 1e6:>8.1f} {str(diag):>11} {ms:>10.0f} "
                f"{peak_rss_mb():>10.0f}",
                flush=True,
            )


def main(argv: list[str]) -> None:
    del argv
    if FLAGS.child:
        measure(FLAGS.child)
        return
    print(
        f"{'px':>4} {'width':>5} {'params_M':>8} {'diagnostics':>11} {'ms/iter':>10} "
        f"{'peak_MiB':>10}",
        flush=True,
    )
    passed = [a for a in sys.argv[1:] if not a.startswith("--sizes")]
    for size in FLAGS.sizes:
        subprocess.run(
            [sys.executable, os.path.abspath(__file__), f"--child={int(size)}"] + passed, check=True
        )


if __name__ == "__main__":
    app.run(main)
