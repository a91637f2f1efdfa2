"""Run by tests/test_library.py in its own process: the CPU split into 2 logical devices.

Builds and trains two models of different sizes one after the other under MirroredStrategy in
one process, as a notebook does: two BSNGAN fits (the library), then two 2-replica ResNet
Trainers (the task runs). Before gan.bsn.distribute, the second model's first gradient all-reduce
reused the first model's collective instance and failed with a shape mismatch. Prints one JSON
line; the test asserts on it.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

# Grappler's rewrites are most of the tracing time here and change no value checked.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from gan import bsn  # noqa: E402
from gan.config import validate_run_config  # noqa: E402
from gan.trainer import Trainer  # noqa: E402

DEVICES = ["/cpu:0", "/cpu:1"]


def replica_spread(variables) -> float:
    """The largest difference between a variable's values on the two replicas."""
    spread = 0.0
    for var in variables:
        inner = getattr(var, "value", var)
        parts = [p.numpy() for p in getattr(inner, "values", [inner])]
        spread = max(spread, max(float(np.max(np.abs(p - parts[0]))) for p in parts))
    return spread


def fit_model(width: int) -> dict:
    """A BSNGAN with ``width`` discriminator channels, trained 3 steps on 2 replicas."""
    strategy = bsn.mirrored_strategy(DEVICES)
    with strategy.scope():
        g = keras.Sequential(
            [
                keras.Input((8,)),
                keras.layers.Dense(4 * 4 * 4),
                keras.layers.Reshape((4, 4, 4)),
                bsn.BatchNorm(),
                keras.layers.ReLU(),
                keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh"),
            ]
        )
        d = keras.Sequential(
            [
                keras.Input((8, 8, 3)),
                bsn.SNConv2D(width, 3, strides=2, padding="same", sn_mode="BSN"),
                keras.layers.LeakyReLU(0.1),
                keras.layers.Flatten(),
                bsn.SNDense(1, sn_mode="BSN"),
            ]
        )
        model = bsn.BSNGAN(g, d)
        model.compile(
            d_optimizer=keras.optimizers.Adam(1e-3),
            g_optimizer=keras.optimizers.Adam(1e-3),
            loss="wgan_gp",
            n_dis=2,
        )
    images = np.random.default_rng(width).uniform(-1, 1, (8, 8, 8, 3)).astype(np.float32)
    logs = model.fit(tf.data.Dataset.from_tensors(images).repeat(3), verbose=0).history
    return {
        "replicas": strategy.num_replicas_in_sync,
        "loss_d": logs["loss/d"][-1],
        "steps": int(model.g_optimizer.iterations.numpy()),
        "spread": replica_spread(model.variables),
    }


def train_trainer(out_dir: str, gamma: str) -> dict:
    """A 2-replica ResNet Trainer at 8 px (gamma "diff" has 7 more D variables than "none"),
    hinge loss (tests/two_replica_check.py trains a 2-replica WGAN-GP trainer)."""
    cfg = validate_run_config(
        dict(
            dataset="cifar10",
            network="resnet",
            network_width=1 / 16,
            iteration=1,
            d_batch_size=4,
            g_batch_size=4,
            num_gpus=2,
            sn_mode="BSN",
            gamma=gamma,
            metrics=[],
        )
    )
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    t = Trainer(cfg, os.path.join(out_dir, gamma), images, seed=5, devices=DEVICES)
    stats = t.train_iteration(with_summary=False)
    return {
        "loss_g": float(stats["loss/g"]),
        "replicas": t.num_replicas,
        "d_variables": len(t.discriminator.trainable_variables),
    }


def main(out_dir: str) -> None:
    result = {
        "fit": [fit_model(4), fit_model(6)],
        "trainers": [train_trainer(out_dir, "diff"), train_trainer(out_dir, "none")],
        "same_strategy": bsn.mirrored_strategy(DEVICES)
        is bsn.mirrored_strategy(["/job:localhost/replica:0/task:0/device:CPU:0", "/cpu:1"]),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
