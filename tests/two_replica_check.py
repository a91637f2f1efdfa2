"""Run by tests/test_multi_gpu.py in its own process: the CPU split into 2 logical devices.

Compares a D step of a 2-replica ResNet trainer (MirroredStrategy over /cpu:0 and /cpu:1) with
the 1-replica step on the same real and fake images, then trains the 2-replica trainer and
checks that every variable is identical on both replicas. Prints one JSON line of measured
differences; the test asserts on them.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

# Grappler's graph rewrites are a third of this check's time (tracing the rest) and change no
# value the check compares.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

from gan.config import validate_run_config  # noqa: E402
from gan.trainer import Trainer  # noqa: E402

DEVICES = ["/cpu:0", "/cpu:1"]
B = 4


def config(num_gpus: int) -> dict:
    return validate_run_config(
        dict(
            dataset="cifar10",
            network="resnet",
            network_width=1 / 16,
            iteration=1,
            n_dis=1,
            d_batch_size=B,
            g_batch_size=B,
            num_gpus=num_gpus,
            sn_mode="BSN",
            gamma="diff",
            loss="wgan_gp",
            d_gp_coe=10.0,
            d_beta1=0.0,
            g_beta1=0.0,
            metrics=[],
            vis_freq=1,
            vis_num_h=2,
            vis_num_w=2,
            save_checkpoint_freq=1,
        )
    )


def max_diff(a, b) -> float:
    return max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b, strict=True)
    )


def replica_values(var) -> list[np.ndarray]:
    """The value of ``var`` on each replica (one entry for a plain variable)."""
    inner = getattr(var, "value", var)
    parts = getattr(inner, "values", None)
    return [p.numpy() for p in parts] if parts is not None else [inner.numpy()]


def main(out_dir: str) -> None:
    images = np.random.default_rng(0).integers(0, 256, (16, 16, 16, 3), dtype=np.uint8)
    one = Trainer(config(1), os.path.join(out_dir, "one"), images, seed=5)
    two = Trainer(config(2), os.path.join(out_dir, "two"), images, seed=5, devices=DEVICES)
    result: dict = {
        "replicas": [one.num_replicas, two.num_replicas],
        "strategy": type(two.strategy).__name__,
    }
    result["initial"] = max_diff(
        [v.numpy() for v in one.discriminator.variables],
        [v.numpy() for v in two.discriminator.variables],
    )

    rng = np.random.default_rng(1)
    real = tf.constant(rng.uniform(-1, 1, (B, 16, 16, 3)), tf.float32)
    fake = tf.constant(rng.uniform(-1, 1, (B, 16, 16, 3)), tf.float32)
    alpha = tf.constant(rng.uniform(size=(B, 1, 1, 1)), tf.float32)

    def step(trainer):
        def replica():
            r, f, a = (trainer.schedule.local(x) for x in (real, fake, alpha))
            stats, grads = trainer.schedule.d_gradients(r, f, a)
            summed = tf.distribute.get_replica_context().all_reduce("sum", grads)
            trainer.schedule.d_update(r, f, a)
            return stats["loss/d"], summed

        def run():  # eagerly: the traced step is two.train()'s below
            loss, grads = trainer.strategy.run(replica)
            trainer.discriminator.update_u()
            return (
                trainer.strategy.reduce("mean", loss, axis=None),
                [trainer.strategy.experimental_local_results(g)[0] for g in grads],
            )

        loss, grads = run()
        return float(loss), [g.numpy() for g in grads]

    loss1, grads1 = step(one)
    loss2, grads2 = step(two)
    result["loss"] = [loss1, loss2]
    result["grad_scale"] = max(float(np.max(np.abs(g))) for g in grads1)
    result["grads"] = max_diff(grads1, grads2)
    result["weights"] = max_diff(
        [v.numpy() for v in one.discriminator.variables],
        [v.numpy() for v in two.discriminator.variables],
    )
    result["d_optimizer"] = max_diff(
        [v.numpy() for v in one.d_opt.variables], [v.numpy() for v in two.d_opt.variables]
    )

    # A whole iteration through train() (samples, scalars, checkpoint): every variable stays
    # identical on the two replicas.
    assert two.train()
    spread, kinds = 0.0, {}
    for model in (two.generator, two.discriminator):
        for var in model.variables:
            values = replica_values(var)
            kinds[type(getattr(var, "value", var)).__name__] = len(values)
            spread = max(spread, max_diff(values[:1] * len(values), values))
    result["replica_spread"] = spread
    result["variable_kinds"] = kinds
    result["u_and_gamma_replicas"] = sorted(
        {len(replica_values(v)) for v in two.discriminator.u_variables() + two.discriminator.gammas}
    )

    # Written once: each scalar once per step; the checkpoint loads into a 1-device trainer.
    counts: dict = {}
    ckpt_dir = os.path.join(out_dir, "two", "checkpoint")
    for name in os.listdir(ckpt_dir):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(ckpt_dir, name)):
                for value in event.summary.value:
                    counts[(value.tag, event.step)] = counts.get((value.tag, event.step), 0) + 1
    result["scalar_writes"] = sorted(set(counts.values()))
    result["scalars"] = sorted({tag for tag, _ in counts})
    result["samples"] = sorted(os.listdir(os.path.join(out_dir, "two", "sample")))
    restored = Trainer(config(1), os.path.join(out_dir, "two"), images, seed=5)
    result["restored_id"] = restored.restore()
    result["restored_diff"] = max_diff(
        [v.numpy() for v in restored.generator.variables + restored.discriminator.variables],
        [v.numpy() for v in two.generator.variables + two.discriminator.variables],
    )
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
