"""Throughput of the IS/FID metric path and the projected time of one paper-size evaluation.

Runs the IS and FID callbacks (sampling from a NumPy stand-in generator, pixel path, TF1
resize to 299, graph, scores) on each graph it can get without a download:

- ``stub``: the small test graph (measures the pipeline around the network);
- ``keras-v3``: Keras InceptionV3 with random weights frozen under the Inception tensor names,
  a download-free stand-in of the same architecture family and cost as the real graph;
- ``real``: the real graph, when the usual lookup (config/env/cache) finds it.

Usage: python benchmarks/metrics.py [--images 512] [--size 32] [--no-standin] [--tiny]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gan.config import validate_run_config  # noqa: E402
from gan.metrics import inception as inc  # noqa: E402
from gan.metrics.base import MetricContext  # noqa: E402
from gan.metrics.registry import build_metrics  # noqa: E402
from tests.inception_stub import stub_inception_graph_def  # noqa: E402

PAPER = {"is": 50000, "fid": 10000, "real": 5000}


def keras_standin_graph_def():
    """Keras InceptionV3 (random weights) + a 1008-way dense, frozen with the graph's names."""
    import keras
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    base = keras.applications.InceptionV3(
        weights=None, include_top=False, input_shape=(299, 299, 3), pooling="avg"
    )
    head = keras.layers.Dense(1008)
    head.build((None, 2048))

    @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
    def forward(x):
        pool = base(tf.identity(x, name="Mul"), training=False)
        pool3 = tf.reshape(pool, [-1, 1, 1, 2048], name="pool_3")
        return tf.identity(head(pool), name="logits"), pool3

    frozen = convert_variables_to_constants_v2(forward.get_concrete_function())
    return frozen.graph.as_graph_def()


def bench_graph(path: str, n: int, size: int, batch: int) -> float:
    """Images/s of one IS+FID evaluation (n generated, n // 2 real) through the callbacks."""
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    # The metric keys are what is measured; dataset, mg and iteration only make a valid config.
    cfg = validate_run_config(
        {
            "dataset": "cifar10",
            "mg": 4,
            "iteration": 1,
            "metrics": ["inception_score", "fid"],
            "metric_batch_size": batch,
            "is_num_samples": n,
            "is_num_splits": min(10, n),
            "fid_num_samples": n,
            "fid_num_real": n // 2,
            "inception_graph": path,
        }
    )
    context = MetricContext(
        sample=lambda k: np.tanh(rng.normal(size=(k, size, size, 3))).astype(np.float32),
        sample_real=lambda k: real[:k],
        real_images=real,
        rng=rng,
        run_dir=os.path.dirname(path),
    )
    callbacks = build_metrics(cfg)
    for cb in callbacks:
        cb.setup(context)
    callbacks[0].runner.graph.run(real[:batch])  # build and trace the run's graph first
    start = time.perf_counter()
    for cb in callbacks:
        cb.evaluate(context, 0)
    return (n + n // 2) / (time.perf_counter() - start)


def score_seconds(fraction: int = 1) -> float:
    """Seconds of the IS and FID arithmetic at the paper's sizes divided by ``fraction``
    (2048-d features)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(PAPER["is"] // fraction, 1000)).astype(np.float32)
    act_fake = rng.normal(size=(PAPER["fid"] // fraction, 2048)).astype(np.float32)
    act_real = rng.normal(size=(PAPER["real"] // fraction, 2048)).astype(np.float32)
    start = time.perf_counter()
    inc.inception_score(logits, 10)
    inc.frechet_distance(act_real, act_fake)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512, help="generated images per run")
    parser.add_argument("--size", type=int, default=32, help="generated image size (px)")
    parser.add_argument("--batch", type=int, default=64, help="metric_batch_size")
    parser.add_argument("--no-standin", action="store_true", help="skip the Keras stand-in")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="only check that the script runs: "
        "the score arithmetic at 1/100 of the paper's sizes, no Keras stand-in, "
        "no real graph (the figures mean nothing)",
    )
    args = parser.parse_args()

    import tensorflow as tf

    print(
        f"devices: {[d.device_type for d in tf.config.list_physical_devices()]}, "
        f"CPU cores: {os.cpu_count()}"
    )
    fraction = 100 if args.tiny else 1
    scoring = score_seconds(fraction) * fraction
    print(
        f"IS+FID arithmetic at paper sizes (50,000x1000 logits, 2048-d FID): {scoring:.1f} s"
        + (" (--tiny: 100 times the time at 1/100 of the sizes)" if args.tiny else "")
    )
    graphs = []
    with tempfile.TemporaryDirectory() as tmp:
        stub = os.path.join(tmp, "stub.pb")
        with open(stub, "wb") as f:
            f.write(stub_inception_graph_def().SerializeToString())
        graphs.append(("stub", stub, args.images))
        if not (args.no_standin or args.tiny):
            standin = os.path.join(tmp, "keras_v3.pb")
            with open(standin, "wb") as f:
                f.write(keras_standin_graph_def().SerializeToString())
            graphs.append(("keras-v3", standin, max(20, args.images // 4)))
        try:
            if not args.tiny:
                graphs.append(
                    (
                        "real",
                        inc.find_inception_graph(None, download=False),
                        max(20, args.images // 4),
                    )
                )
        except inc.InceptionUnavailable as e:
            print(f"real graph: not available here ({str(e).split(';')[0]})")
        per_eval = PAPER["is"] + PAPER["fid"] + PAPER["real"]
        for name, path, n in graphs:
            rate = bench_graph(path, n, args.size, args.batch)
            original = per_eval / rate + scoring
            ours = PAPER["is"] / rate + scoring
            print(
                f"{name:9s} {rate:9.1f} images/s ({n} + {n // 2} images, {args.size} px); "
                f"one IS+FID evaluation: {original / 60:8.1f} min for the original's "
                f"{per_eval:,} images, {ours / 60:8.1f} min as run here "
                f"({PAPER['is']:,} shared; the {PAPER['real']:,} real once per process)"
            )


if __name__ == "__main__":
    main()
