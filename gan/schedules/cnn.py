"""The CNN schedule (CIFAR10, STL10, CelebA; docs/faithfulness.md section 6), per iteration:

* ``n_dis`` times: draw a real batch and ``z``; one D step (G in training mode, its batch-norm
  averages moving); ``u <- u'`` for every normalized layer;
* one G step on the ``z`` of the last D step.

With ``with_summary`` the last D step also returns the diagnostics (losses, mean D outputs,
each layer's sigmas, the gammas, and the input-gradient norms on the real and the fake batch),
computed before its optimizer update as in the original.
"""

from __future__ import annotations

import tensorflow as tf

from gan import losses
from gan.schedules.base import Schedule, add_gradients, slope_stats


class CNNSchedule(Schedule):
    """The CNN schedule on one device, with the original's results and less work: G(z) of the
    last D step is the G step's forward, and the diagnostics reuse the D step's forwards."""

    def d_step(self, real: tf.Tensor, fake: tf.Tensor, diagnostics: bool
               ) -> dict[str, tf.Tensor]:
        """One D update on ``real`` and the generated ``fake``.

        The loss is a sum of per-input terms (plus WGAN-GP's penalty), so its gradient is
        computed one input at a time and summed: each D forward's activations are freed
        before the next forward runs, halving the step's activation memory. With
        ``diagnostics`` the sigmas, gammas and input-gradient norms are computed on the
        pre-update weights; the gradient norms reuse the loss's forward passes (one extra
        backward pass to the inputs, no extra forward).
        """
        d = self.discriminator
        d_vars = d.trainable_variables
        slopes_wanted = diagnostics and self.config.diagnostics
        terms = losses.D_TERMS[self.config.loss]
        stats: dict[str, tf.Tensor] = {}
        grads: list[tf.Tensor] | None = None
        done: list[tf.Tensor] = []
        for name, x, term in zip(("real", "fake"), (real, fake), terms, strict=True):
            with tf.control_dependencies(done):
                x = tf.identity(x)
            with tf.GradientTape() as tape:
                with tf.GradientTape(watch_accessed_variables=False) as input_tape:
                    input_tape.watch(x)
                    out = d(x)
                loss = term(out)
            part = tape.gradient(loss, d_vars)
            grads = part if grads is None else add_gradients(grads, part)
            stats[f"loss/d/{name}"] = loss
            stats[f"d/{name}"] = tf.reduce_mean(out)
            done = list(part)
            if slopes_wanted:
                slopes = losses.slope_norms(input_tape.gradient(out, x))
                stats.update(slope_stats(name, slopes))
                done.append(slopes)
        stats["loss/d"] = stats["loss/d/real"] + stats["loss/d/fake"]
        if self.config.loss == "wgan_gp":
            with tf.control_dependencies(done), tf.GradientTape() as tape:
                gp, penalty = self.penalty(real, fake)
            # The penalty does not depend on the last bias: its gradient there is None.
            grads = add_gradients(grads, tape.gradient(penalty, d_vars))
            stats["loss/d/gp"] = gp
            stats["loss/d"] = stats["loss/d"] + penalty
        if diagnostics:
            stats.update(self.weight_diagnostics())
        # Everything computed from this step's forwards finishes before the update: the
        # executor would otherwise defer work only the returned stats need and keep the
        # activations alive through the G step.
        with tf.control_dependencies(list(stats.values())):
            self.d_opt.apply_gradients(zip(grads, d_vars, strict=True))
        return stats

    def g_step(self, z: tf.Tensor) -> dict[str, tf.Tensor]:
        """One G update on a fresh forward of ``z`` (its batch-norm averages moving once)."""
        with tf.GradientTape() as g_tape:
            fake = self.generator(z, training=True)
        return self.g_step_on(g_tape, fake)

    def g_step_on(self, g_tape: tf.GradientTape, fake: tf.Tensor) -> dict[str, tf.Tensor]:
        """One G update given a forward ``fake = G(z)`` recorded on ``g_tape``.

        The loss -mean(D(fake)) uses D's current weights; its gradient to ``fake`` is carried
        back through the recorded G forward (the chain rule, without recomputing G).
        """
        g_vars = self.generator.trainable_variables
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(fake)
            stats = losses.generator_loss(self.discriminator(fake))
        d_fake = tape.gradient(stats["loss/g"], fake)
        grads = g_tape.gradient(fake, g_vars, output_gradients=d_fake)
        self.g_opt.apply_gradients(zip(grads, g_vars, strict=True))
        return stats

    def iteration(self, with_summary: bool) -> dict[str, tf.Tensor]:
        """n_dis D steps (each on a fresh real batch and ``z``, then ``u <- u'``) and the G
        step on the last ``z``; the diagnostics from the last D step when ``with_summary``."""
        stats: dict[str, tf.Tensor] = {}
        for i in range(self.n_dis):
            real = self.sample_real(self.batch_size)
            z = self.sample_z(self.batch_size)
            if i < self.n_dis - 1:
                fake = self.generator(z, training=True)
            else:
                # The original ran G(z) here and again in the G step on the same z and weights:
                # the same tensor, so it is computed once (with its two batch-norm updates).
                with tf.GradientTape() as g_tape:
                    fake = self.generator(z, training=True, update_stats=2)
            stats = self.d_step(real, fake, diagnostics=with_summary and i == self.n_dis - 1)
            self.discriminator.update_u()
        stats.update(self.g_step_on(g_tape, fake))
        return stats
