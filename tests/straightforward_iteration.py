"""The original's training iteration written the straightforward way, the yardstick of the
trainer's tests (docs/faithfulness.md section 6).

Every pass the original ran is computed separately: G(z) in each D step and again in the G step,
and the diagnostics' own D forward passes. ``Trainer`` computes the same results with less
work; this version is what its tests (tests/test_optimized_step.py) compare against and whose
time and FLOPs benchmarks/train_step.py measures as "what the original's schedule needs". It
lives with the tests: the package does not ship it.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from gan import losses
from gan.schedules import slope_stats, weight_diagnostics


def straightforward_iteration(t: Any, with_summary: bool) -> dict[str, tf.Tensor]:
    """The original's schedule as written there: every G and D pass computed separately.

    ``t`` is a CNN run's :class:`~gan.trainer.Trainer`: its networks, optimizers and schedule
    (whose draws and D losses this uses) are trained in place.
    """
    g, d, s = t.generator, t.discriminator, t.schedule
    stats = {}
    for i in range(s.n_dis):
        real, z = s.sample_real(s.batch_size), s.sample_z(s.batch_size)
        fake = g(z, training=True)
        with tf.GradientTape() as tape:
            d_real, d_fake = d(real), d(fake)
            stats = s.d_losses(real, fake, d_real, d_fake)
        grads = tape.gradient(stats["loss/d"], d.trainable_variables)
        if with_summary and i == t.n_dis - 1:
            stats.update(weight_diagnostics(d))
            for name, x in (("real", real), ("fake", fake)):
                stats.update(slope_stats(name, losses.input_slopes(d, x)))
        t.d_opt.apply_gradients(zip(grads, d.trainable_variables, strict=True))
        d.update_u()
    with tf.GradientTape() as tape:
        g_stats = losses.generator_loss(d(g(z, training=True)))
    grads = tape.gradient(g_stats["loss/g"], g.trainable_variables)
    t.g_opt.apply_gradients(zip(grads, g.trainable_variables, strict=True))
    stats.update(g_stats)
    return stats
