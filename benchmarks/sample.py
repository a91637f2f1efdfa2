"""Speed and memory of ``main.py sample``: images/s, and peak RSS at N and 2N images.

Each size runs in a fresh Python process (``gan.sample.sample_run``, the command's code), so its
peak resident memory (``getrusage`` ``ru_maxrss``) is that sampling's alone; the writers stream
batch by batch, so the peak at 2N must not exceed the one at N by more than noise. The run is
an untrained generator of the chosen config (``--dataset``: the CNN of cifar10 32 px, stl10
48 px or celeba 64 px) saved as ``checkpoint/model-0`` of a temporary run folder, unless
``--run_dir`` names a trained one.

``--writer_only SIZE`` measures the writers alone on constant SIZE x SIZE x 3 batches (no
generator; e.g. 128 for ImageNet-sized sets, where 50,000 images are 2.4 GB).

Usage: python benchmarks/sample.py [--num 10000] [--format npy|npz|png] [--dataset cifar10]
       [--run_dir RUN_DIR] [--batch_size 256] [--writer_only SIZE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MG = {"cifar10": 4, "stl10": 6, "celeba": 8}

WRITER_CHILD = """
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {repo!r})
from gan.sample import write_images
batch = np.full(({batch}, {size}, {size}, 3), 7, np.uint8)
z = np.zeros(({batch}, 128), np.float32)
def batches(k):
    for start in range(0, {num}, {batch}):
        yield (batch if k == 0 else z)[:min({batch}, {num} - start)]
t = time.perf_counter()
write_images({out!r}, batches(0), {num}, ({size}, {size}, 3), z_batches=lambda: batches(1),
             latent_dim=128, progress=False)
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "peak_rss_mib": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

CHILD = """
import json, os, resource, sys, time
sys.path.insert(0, {repo!r})
from gan.sample import sample_run
t = time.perf_counter()
sample_run({run!r}, {out!r}, num={num}, batch_size={batch}, progress=False)
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "peak_rss_mib": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def make_run(folder: str, dataset: str) -> str:
    """A run folder holding an untrained CNN generator as ``checkpoint/model-0``."""
    sys.path.insert(0, REPO)
    import tensorflow as tf

    from gan.config import validate_run_config
    from gan.networks.specs import build_generator
    from gan.training_checkpoints import variables_by_path

    config = validate_run_config({"dataset": dataset, "mg": MG[dataset], "iteration": 1, "seed": 0})
    run = os.path.join(folder, "run")
    os.makedirs(os.path.join(run, "checkpoint"))
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump(config.to_dict(), f)
    size = 8 * MG[dataset]
    generator = build_generator(config, (size, size, 3))
    tf.train.Checkpoint(generator=variables_by_path(generator)).write(
        os.path.join(run, "checkpoint", "model-0")
    )
    return run


def measure(run: str | None, out: str, num: int, batch: int, writer_only: int = 0) -> dict:
    """One ``sample_run`` (or, with ``writer_only``, one ``write_images``) of ``num`` images
    in a fresh process: seconds and peak RSS."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if writer_only:
        code = WRITER_CHILD.format(repo=REPO, out=out, num=num, batch=batch, size=writer_only)
    else:
        code = CHILD.format(repo=REPO, run=run, out=out, num=num, batch=batch)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=10000)
    parser.add_argument("--format", choices=("npy", "npz", "png"), default="npy")
    parser.add_argument("--dataset", choices=sorted(MG), default="cifar10")
    parser.add_argument("--run_dir", default=None)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--writer_only", type=int, default=0, metavar="SIZE")
    args = parser.parse_args()
    what = f"written, {args.writer_only} px, no generator" if args.writer_only else "sampled"
    with tempfile.TemporaryDirectory(prefix="bsn-sample-bench-") as folder:
        run = None if args.writer_only else args.run_dir or make_run(folder, args.dataset)
        results = []
        for num in (args.num, 2 * args.num):
            out = os.path.join(
                folder, f"out-{num}" + ("" if args.format == "png" else f".{args.format}")
            )
            r = measure(run, out, num, args.batch_size, args.writer_only)
            results.append(r)
            print(
                f"{num:>7} images {what} ({args.format}): {r['seconds']:7.1f} s  "
                f"{num / r['seconds']:8.1f} images/s (incl. start-up)  peak RSS "
                f"{r['peak_rss_mib']:7.1f} MiB",
                flush=True,
            )
        grow = results[1]["peak_rss_mib"] - results[0]["peak_rss_mib"]
        extra = (
            f" (the {args.num} extra images are {os.path.getsize(out) / 2 / 2**20:.1f} "
            "MiB of output)"
            if args.format != "png"
            else ""
        )
        print(f"peak RSS at {2 * args.num} minus at {args.num}: {grow:+.1f} MiB{extra}")


if __name__ == "__main__":
    main()
