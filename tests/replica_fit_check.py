"""Run by tests/test_library_promises.py in its own process: the CPU split into 2 logical
devices.

Trains one BSNGAN with ``fit`` under ``gan.bsn.mirrored_strategy`` on the two devices and
another on one device, from the same weights, on the same global batches and latents, and
prints one JSON line of the largest differences between their variables; the test asserts on
them.

Each replica's D batch is a slice of the one-device D batch: the data given to the 2-replica
fit is permuted so that replica r's i-th D batch holds slice r of the one-device i-th D batch,
and each replica's ``z`` is slice r of the one-device ``z``. The generator has no batch norm
(its statistics are per replica, as in the paper's per-tower batch norm, so they cannot match a
one-device run); the optimizers are SGD, whose update is proportional to the gradient, so a
wrong replica factor shows (Adam is nearly invariant to the gradient's scale).
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
tf.config.experimental.enable_op_determinism()
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from gan import bsn  # noqa: E402

DEVICES = ["/cpu:0", "/cpu:1"]
REPLICAS, N_DIS, D_BATCH, STEPS, LATENT, SEED = 2, 2, 4, 3, 8, 7


def networks() -> tuple[keras.Model, keras.Model]:
    """A G without batch norm and a BSN discriminator, 8x8 RGB."""
    g = keras.Sequential(
        [
            keras.Input((LATENT,)),
            keras.layers.Dense(4 * 4 * 8, activation="relu"),
            keras.layers.Reshape((4, 4, 8)),
            keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh"),
        ]
    )
    d = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            bsn.SNConv2D(8, 3, strides=2, sn_mode="BSN", scale=1.2),
            keras.layers.LeakyReLU(0.1),
            keras.layers.Flatten(),
            bsn.SNDense(1, sn_mode="SN"),
        ]
    )
    return g, d


def model(weights: list | None) -> bsn.BSNGAN:
    g, d = networks()
    gan = bsn.BSNGAN(g, d, seed=SEED)
    if weights is not None:
        gan.set_weights(weights)
    gan.compile(
        d_optimizer=keras.optimizers.SGD(0.05),
        g_optimizer=keras.optimizers.SGD(0.05),
        loss="hinge",
        n_dis=N_DIS,
    )
    per_replica = D_BATCH // gan.distribute_strategy.num_replicas_in_sync

    def sample_z(n):
        # The one-device z of this D step, and of it this replica's slice.
        count = tf.convert_to_tensor(gan.draws.value)
        gan.draws.assign_add(1)
        full = tf.random.stateless_normal([D_BATCH, LATENT], seed=tf.stack([SEED, count]))
        ctx = tf.distribute.get_replica_context()
        start = ctx.replica_id_in_sync_group * per_replica
        return full[start : start + per_replica]

    gan.sample_z = sample_z
    return gan


def replica_order(batch: np.ndarray) -> np.ndarray:
    """A one-device global batch ``[N_DIS * D_BATCH, ...]`` reordered so that replica r's
    i-th D batch is slice r of the one-device i-th D batch."""
    per = D_BATCH // REPLICAS
    split = batch.reshape((N_DIS, REPLICAS, per) + batch.shape[1:])
    return split.transpose((1, 0, 2) + tuple(range(3, split.ndim))).reshape(batch.shape)


def main() -> None:
    images = np.random.default_rng(0).uniform(-1, 1, (STEPS, N_DIS * D_BATCH, 8, 8, 3))
    images = images.astype(np.float32)
    one = model(None)
    start = one.get_weights()
    strategy = bsn.mirrored_strategy(DEVICES)
    with strategy.scope():
        two = model(start)
    one.fit(tf.data.Dataset.from_tensor_slices(images), verbose=0)
    two.fit(
        tf.data.Dataset.from_tensor_slices(np.stack([replica_order(b) for b in images])), verbose=0
    )
    result = {"replicas": two.distribute_strategy.num_replicas_in_sync, "diffs": {}}
    for a, b in zip(one.variables, two.variables, strict=True):
        diff = float(np.max(np.abs(np.asarray(a.numpy()) - np.asarray(b.numpy()))))
        moved = float(np.max(np.abs(np.asarray(a.numpy()) - np.asarray(start_of(a, one, start)))))
        result["diffs"][a.path] = [diff, moved]
    print("RESULT " + json.dumps(result), flush=True)


def start_of(var, gan: bsn.BSNGAN, start: list) -> np.ndarray:
    """``var``'s value before fit (0 for the optimizers' variables, built by compile)."""
    for w, v in zip(gan.weights, start, strict=True):
        if w is var:
            return v
    return np.zeros_like(var.numpy())


if __name__ == "__main__":
    main()
