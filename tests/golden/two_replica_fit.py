"""Run by tests/golden/test_two_replica_fit.py in its own process (the CPU split into 2 logical
devices): one ``BSNGAN.fit`` step under ``MirroredStrategy`` over the two, and the same step on
one device, from the same weights, real batch and z. Prints one ``RESULT {json}`` line of the
largest differences of the losses, the Adam moments (the averaged gradients) and the weights.

The networks are small and batch-norm free (batch norm runs per replica, so with it the two
would differ by design): G = dense -> tanh, D = BSN conv -> LeakyReLU 0.1 -> SN dense.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tests.golden import port  # noqa: E402

B, LATENT, SIZE = 4, 6, 8


def networks() -> tuple[keras.Model, keras.Model]:
    bsn = port.bsn_api()
    keras.utils.set_random_seed(0)
    g = keras.Sequential(
        [
            keras.Input((LATENT,)),
            keras.layers.Dense(SIZE * SIZE * 3, activation="tanh"),
            keras.layers.Reshape((SIZE, SIZE, 3)),
        ]
    )
    d = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            bsn.SNConv2D(4, 3, strides=2, padding="same", sn_mode="BSN"),
            keras.layers.LeakyReLU(0.1),
            keras.layers.Flatten(),
            bsn.SNDense(1, sn_mode="SN"),
        ]
    )
    return g, d


def fit_once(strategy, real: np.ndarray, z: np.ndarray) -> dict:
    cfg = port.run_config()
    with strategy.scope():
        g, d = networks()
        model = port.bsngan(g, d, cfg, [], [])
        replicas = strategy.num_replicas_in_sync
        z_split = tf.constant(z.reshape(replicas, B // replicas, LATENT))

        def sample_z(n):
            ctx = tf.distribute.get_replica_context()
            return tf.gather(z_split, ctx.replica_id_in_sync_group)

        model.sample_z = sample_z
        model.compile(
            d_optimizer=model.d_optimizer,
            g_optimizer=model.g_optimizer,
            loss="hinge",
            n_dis=1,
            diagnostics=False,
            run_eagerly=False,
        )
    logs = model.fit(real, batch_size=B, epochs=1, shuffle=False, verbose=0).history
    slots = []
    for opt, net in ((model.d_optimizer, d), (model.g_optimizer, g)):
        for v in net.trainable_variables:
            i = opt._get_variable_index(v)
            slots += [opt._momentums[i].numpy(), opt._velocities[i].numpy()]
    weights = [v.numpy() for v in g.weights + d.weights]
    return {
        "replicas": replicas,
        "logs": {k: float(v[-1]) for k, v in logs.items()},
        "slots": slots,
        "weights": weights,
    }


def main() -> None:
    rng = np.random.default_rng(1)
    real = rng.uniform(-1, 1, (B, SIZE, SIZE, 3)).astype(np.float32)
    z = rng.standard_normal((B, LATENT)).astype(np.float32)
    bsn = port.bsn_api()
    one = fit_once(tf.distribute.get_strategy(), real, z)
    two = fit_once(bsn.mirrored_strategy(["/cpu:0", "/cpu:1"]), real, z)
    rel = [
        float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))
        for a, b in zip(one["slots"], two["slots"], strict=True)
    ]
    result = {
        "replicas": [one["replicas"], two["replicas"]],
        "losses": {k: [one["logs"][k], two["logs"].get(k)] for k in ("loss/d", "loss/g")},
        "slots_rel": max(rel),
        "weights": max(
            float(np.max(np.abs(a - b)))
            for a, b in zip(one["weights"], two["weights"], strict=True)
        ),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
