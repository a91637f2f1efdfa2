"""The ResNet schedule (``network: resnet``, ImageNet 128x128), per iteration:

* ``n_dis`` times: a real batch of ``d_batch_size`` (streamed ImageNet or in-memory data) and
  ``z``; one D step (G in training mode WITHOUT moving its batch-norm averages); ``u <- u'``;
* with ``with_summary``, the diagnostics on the last D batch with the weights and ``u`` after
  that update (the original ran them as a separate pass after the last D step and its u
  update);
* one G step on a fresh ``z`` of ``g_batch_size``; the batch-norm averages move here only.

With ``num_gpus`` > 1 each step runs under ``tf.distribute.MirroredStrategy``: every global
batch is split evenly over the replicas, the per-replica losses are averaged (gradients
all-reduced), batch norm runs per replica (its moving averages follow the first replica, as the
original's first tower), and ``u`` is updated once from the mirrored weights, so it is
identical on every replica. One device uses the default strategy: the same code.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from gan import losses
from gan.bsn.diagnostics import slope_stats
from gan.schedules.base import Schedule


class ResNetSchedule(Schedule):
    """The ResNet schedule, its steps written per replica."""

    streams_data = True

    @property
    def d_batch_size(self) -> int:
        """The global batch of one D step: ``d_batch_size``."""
        return self.config.d_batch_size

    @property
    def g_batch_size(self) -> int:
        """The global batch of the G step: ``g_batch_size``."""
        return self.config.g_batch_size

    def d_replica(self, real: tf.Tensor, z: tf.Tensor, *alpha: tf.Tensor) -> tf.Tensor:
        """One D step on this replica's share of the global ``real`` and ``z``; returns fake.

        G runs in training mode without moving its batch-norm averages. The replica's loss is
        divided by the replica count, so the all-reduced (summed) gradient is that of the
        global-batch loss, as the original's tower average. ``u`` is not moved here.
        """
        real, z = self.local(real), self.local(z)
        alpha_local = self.local(alpha[0]) if alpha else None
        fake = self.generator(z, training=True, update_stats=False)
        self.d_update(real, fake, alpha_local)
        return fake

    def d_gradients(
        self, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor | None = None
    ) -> tuple[dict[str, tf.Tensor], list[tf.Tensor]]:
        """One replica's D losses on its ``real`` and ``fake`` images and the gradients of its
        loss / replica count (their sum over replicas is the global-batch gradient)."""
        d = self.discriminator
        with tf.GradientTape() as tape:
            stats = self.d_losses(real, fake, d(real), d(fake), alpha)
            loss = stats["loss/d"] / float(self.num_replicas)
        return stats, tape.gradient(loss, d.trainable_variables)

    def d_update(
        self, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        """The D update of one replica on given ``real`` and ``fake`` images; its losses.

        The optimizer all-reduces (sums) the replicas' gradients before applying them.
        """
        stats, grads = self.d_gradients(real, fake, alpha)
        d_vars = self.discriminator.trainable_variables
        self.d_opt.apply_gradients(zip(grads, d_vars, strict=True))
        return stats

    def diagnostics_replica(
        self, real: tf.Tensor, fake: tf.Tensor, *alpha: tf.Tensor
    ) -> tuple[dict[str, tf.Tensor], tf.Tensor, tf.Tensor]:
        """Losses and D outputs of one replica, and the slopes of all replicas, on the current
        weights (the global ``real``, the replica's ``fake``)."""
        real = self.local(real)
        alpha_local = self.local(alpha[0]) if alpha else None
        input_tape, d_real, d_fake = self.watched_d(real, fake)
        stats = self.d_losses(real, fake, d_real, d_fake, alpha_local)
        if not self.config.diagnostics:
            empty = tf.zeros([0])
            return stats, empty, empty
        s_real, s_fake = self.slopes(input_tape, real, fake, d_real, d_fake)
        return stats, self.gather(s_real), self.gather(s_fake)

    def g_replica(self, z: tf.Tensor) -> dict[str, tf.Tensor]:
        """One G step on this replica's share of ``z``; batch-norm averages move once."""
        z = self.local(z)
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            stats = losses.generator_loss(self.discriminator(fake))
            loss = stats["loss/g"] / float(self.num_replicas)
        grads = tape.gradient(loss, g_vars)
        self.g_opt.apply_gradients(zip(grads, g_vars, strict=True))
        return stats

    def d_step(self) -> tuple[tf.Tensor, Any, tuple[tf.Tensor, ...]]:
        """Draw a D batch, z (and WGAN-GP's alpha), run the D step on every replica, then
        ``u <- u'``; returns the real batch, the per-replica fakes and the alpha (if any)."""
        real = self.next_real()
        z = self.sample_z(self.d_batch_size)
        extra = (
            (self.rng.uniform([self.d_batch_size, 1, 1, 1]),)
            if self.config.loss == "wgan_gp"
            else ()
        )
        fake = self.strategy.run(self.d_replica, args=(real, z) + extra)
        self.discriminator.update_u()
        return real, fake, extra

    def looped_d_steps(self, times: int, keep_last: bool) -> tuple[tf.Tensor, ...]:
        """``times`` D steps as one graph loop, so the traced graph holds a single D step
        whatever n_dis (the trainer traces without AutoGraph: an explicit tf.while_loop).
        With ``keep_last`` the loop also carries the last step's real batch, fakes and alpha
        (if any) out; one device only, as the replicas' fakes cannot be loop variables."""
        carry = []
        if keep_last:
            batch = [self.d_batch_size, *self.data.image_shape]
            carry = [tf.zeros(batch), tf.zeros(batch)]
            if self.config.loss == "wgan_gp":
                carry.append(tf.zeros([self.d_batch_size, 1, 1, 1]))

        def one_d_step(i: tf.Tensor, *_: tf.Tensor) -> tuple[tf.Tensor, ...]:
            real, fake, extra = self.d_step()
            return (i + 1, real, fake, *extra) if keep_last else (i + 1,)

        _, *last = tf.while_loop(lambda i, *_: i < times, one_d_step, (tf.constant(0), *carry))
        return tuple(last)

    def iteration(self, with_summary: bool) -> dict[str, tf.Tensor]:
        """n_dis D steps, the diagnostics after the last one when ``with_summary``, then the
        G step on a fresh ``z``."""
        run = self.strategy.run
        if self.n_dis > 1 and self.num_replicas == 1:
            real, fake, *alpha = self.looped_d_steps(self.n_dis, keep_last=True)
            extra = tuple(alpha)
        else:
            if self.n_dis > 1:
                self.looped_d_steps(self.n_dis - 1, keep_last=False)
            real, fake, extra = self.d_step()
        stats: dict[str, tf.Tensor] = {}
        if with_summary:
            # After the last D step and its u update, on the same batch (the original's
            # separate summary pass); G's weights did not change, so its fakes are reused.
            per_replica, real_slopes, fake_slopes = run(
                self.diagnostics_replica, args=(real, fake) + extra
            )
            stats.update(self.mean(per_replica))
            stats.update(self.weight_diagnostics())
            if self.config.diagnostics:
                stats.update(slope_stats("real", self.first(real_slopes)))
                stats.update(slope_stats("fake", self.first(fake_slopes)))
        z = self.sample_z(self.g_batch_size)
        stats.update(self.mean(run(self.g_replica, args=(z,))))
        return stats
