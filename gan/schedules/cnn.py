"""The CNN schedule (CIFAR10, STL10, CelebA; docs/faithfulness.md section 6), per iteration:

* ``n_dis`` times: draw a real batch and ``z``; one D step (G in training mode, its batch-norm
  averages moving); ``u <- u'`` for every normalized layer;
* one G step on the ``z`` of the last D step.

With ``with_summary`` the last D step also returns the diagnostics (losses, mean D outputs,
each layer's sigmas, the gammas, and the input-gradient norms on the real and the fake batch),
computed before its optimizer update as in the original.

The steps themselves are :mod:`gan.bsn.steps.tensorflow`, which the library's ``fit()`` model
(:class:`gan.bsn.BSNGAN`) runs too; this schedule gives them the run's draws.
"""

from __future__ import annotations

import tensorflow as tf

import gan.bsn.steps.tensorflow as step
from gan.schedules.base import Schedule


class CNNSchedule(Schedule):
    """The CNN schedule on one device, with the original's results and less work: G(z) of the
    last D step is the G step's forward, and the diagnostics reuse the D step's forwards."""

    @property
    def parts(self) -> step.StepParts:
        """The networks, optimizers and loss settings the shared steps update."""
        return step.StepParts(
            self.generator,
            self.discriminator,
            self.g_opt,
            self.d_opt,
            loss=self.config.loss,
            d_gp_coe=self.config.d_gp_coe,
            slopes=self.config.diagnostics,
            uniform=self.rng.uniform,
        )

    def d_step(self, real: tf.Tensor, fake: tf.Tensor, diagnostics: bool) -> dict[str, tf.Tensor]:
        """One D update on ``real`` and the generated ``fake`` (see
        :func:`gan.bsn.steps.tensorflow.d_step`)."""
        return step.d_step(self.parts, real, fake, diagnostics)

    def g_step(self, z: tf.Tensor) -> dict[str, tf.Tensor]:
        """One G update on a fresh forward of ``z`` (its batch-norm averages moving once)."""
        with tf.GradientTape() as g_tape:
            fake = self.generator(z, training=True)
        return self.g_step_on(g_tape, fake)

    def g_step_on(self, g_tape: tf.GradientTape, fake: tf.Tensor) -> dict[str, tf.Tensor]:
        """One G update given a forward ``fake = G(z)`` recorded on ``g_tape`` (see
        :func:`gan.bsn.steps.tensorflow.g_step_on`)."""
        return step.g_step_on(self.parts, g_tape, fake)

    def iteration(self, with_summary: bool) -> dict[str, tf.Tensor]:
        """n_dis D steps (each on a fresh real batch and ``z``, then ``u <- u'``) and the G
        step on the last ``z``; the diagnostics from the last D step when ``with_summary``."""

        def draw(_: int) -> tuple[tf.Tensor, tf.Tensor]:
            return self.sample_real(self.batch_size), self.sample_z(self.batch_size)

        return step.paper_iteration(self.parts, draw, self.n_dis, with_summary)
