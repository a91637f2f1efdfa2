"""The paper's CNN iteration on TensorFlow (``GradientTape``) as functions of its parts: the one
implementation that the task trainer's CNN schedule and the library's ``fit()`` model
(:class:`gan.bsn.BSNGAN`, backend tensorflow) both run (docs/faithfulness.md section 6).

Per iteration: ``n_dis`` times [a real batch and ``z`` from ``draw(i)``; G(z) in training mode
(its batch-norm averages moving); one D step; ``u <- u'`` for every normalized layer of D]; then
one G step on the ``z`` of the last D step, which moves no ``u``. With ``diagnostics`` the last
D step also returns the sigmas, gammas and input-gradient norms, computed before its update.

A generator whose ``call`` takes ``update_stats`` (the paper's, built from
:class:`gan.bsn.BatchNorm`) computes G(z) of the last D step once and carries the G step's
gradient back through it, with the two batch-norm updates the original's two calls made; any
other generator is called again in the G step (same weights and ``z``: the same values and
updates, one more forward).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

import gan.bsn.losses as losses
from gan.bsn.diagnostics import slope_stats, update_u, weight_diagnostics

Draw = Callable[[int], tuple[tf.Tensor, tf.Tensor]]


@dataclass
class StepParts:
    """What one iteration updates and how.

    ``loss``: "hinge" or "wgan_gp" (with ``d_gp_coe``); ``slopes``: compute the input-gradient
    norms with the diagnostics; ``uniform(shape)`` draws WGAN-GP's per-sample alpha;
    ``num_replicas``: the losses of one replica are divided by it, since the optimizers sum the
    replicas' gradients.
    """

    generator: keras.Model
    discriminator: keras.Model
    g_opt: keras.optimizers.Optimizer
    d_opt: keras.optimizers.Optimizer
    loss: str
    d_gp_coe: float
    slopes: bool
    uniform: Callable[[list], tf.Tensor]
    num_replicas: int = 1

    def per_replica(self, loss: tf.Tensor) -> tf.Tensor:
        """``loss`` divided by the replica count (unchanged on one device)."""
        return loss if self.num_replicas == 1 else loss / float(self.num_replicas)


def add_gradients(a: list, b: list) -> list:
    """Element-wise sum of two gradient lists; None is a zero gradient."""
    return [y if x is None else x if y is None else x + y for x, y in zip(a, b, strict=True)]


def input_slopes(discriminator: Callable[[tf.Tensor], tf.Tensor], x: tf.Tensor) -> tf.Tensor:
    """Per-sample ``sqrt(||d D(x) / d x||^2 + 1e-8)`` (D has no cross-sample terms)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = discriminator(x)
    return losses.slope_norms(tape.gradient(out, x))


def gradient_penalty(
    discriminator: Callable[[tf.Tensor], tf.Tensor],
    real: tf.Tensor,
    fake: tf.Tensor,
    alpha: tf.Tensor,
) -> tf.Tensor:
    """WGAN-GP term mean((||grad D(x_hat)|| - 1)^2) at x_hat = x + alpha (G(z) - x)."""
    x_hat = losses.interpolate(real, fake, alpha)
    return losses.penalty_of_slopes(input_slopes(discriminator, x_hat))


def shares_forward(generator: keras.Model) -> bool:
    """Whether ``generator.call`` takes ``update_stats`` (one forward serves two calls)."""
    return "update_stats" in inspect.signature(generator.call).parameters


def d_step(
    parts: StepParts, real: tf.Tensor, fake: tf.Tensor, diagnostics: bool
) -> dict[str, tf.Tensor]:
    """One D update on ``real`` and the generated ``fake``; its losses (and diagnostics).

    The loss is a sum of per-input terms (plus WGAN-GP's penalty), so its gradient is computed
    one input at a time and summed: each D forward's activations are freed before the next
    forward runs, halving the step's activation memory. With ``diagnostics`` the sigmas,
    gammas and input-gradient norms are computed on the pre-update weights; the gradient norms
    reuse the loss's forward passes (one extra backward pass to the inputs, no extra forward).
    """
    d = parts.discriminator
    d_vars = d.trainable_variables
    slopes_wanted = diagnostics and parts.slopes
    terms = losses.D_TERMS[parts.loss]
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
            scaled = parts.per_replica(loss)
        part = tape.gradient(scaled, d_vars)
        grads = part if grads is None else add_gradients(grads, part)
        stats[f"loss/d/{name}"] = loss
        stats[f"d/{name}"] = tf.reduce_mean(out)
        done = list(part)
        if slopes_wanted:
            slopes = losses.slope_norms(input_tape.gradient(out, x))
            stats.update(slope_stats(name, slopes))
            done.append(slopes)
    stats["loss/d"] = stats["loss/d/real"] + stats["loss/d/fake"]
    if parts.loss == "wgan_gp":
        with tf.control_dependencies(done), tf.GradientTape() as tape:
            alpha = parts.uniform([tf.shape(real)[0], 1, 1, 1])
            gp = gradient_penalty(d, real, fake, alpha)
            penalty = parts.d_gp_coe * gp
            scaled = parts.per_replica(penalty)
        # The penalty does not depend on the last bias: its gradient there is None.
        grads = add_gradients(grads, tape.gradient(scaled, d_vars))
        stats["loss/d/gp"] = gp
        stats["loss/d"] = stats["loss/d"] + penalty
    if diagnostics:
        stats.update(weight_diagnostics(d))
    # Everything computed from this step's forwards finishes before the update: the executor
    # would otherwise defer work only the returned stats need and keep the activations alive
    # through the G step.
    with tf.control_dependencies(list(stats.values())):
        parts.d_opt.apply_gradients(zip(grads, d_vars, strict=True))
    return stats


def g_step_on(parts: StepParts, g_tape: tf.GradientTape, fake: tf.Tensor) -> dict[str, tf.Tensor]:
    """One G update given a forward ``fake = G(z)`` recorded on ``g_tape``.

    The loss -mean(D(fake)) uses D's current weights; its gradient to ``fake`` is carried back
    through the recorded G forward (the chain rule, without recomputing G). No ``u`` moves.
    """
    g_vars = parts.generator.trainable_variables
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(fake)
        stats = losses.generator_loss(parts.discriminator(fake))
        scaled = parts.per_replica(stats["loss/g"])
    d_fake = tape.gradient(scaled, fake)
    grads = g_tape.gradient(fake, g_vars, output_gradients=d_fake)
    parts.g_opt.apply_gradients(zip(grads, g_vars, strict=True))
    return stats


def paper_iteration(
    parts: StepParts, draw: Draw, n_dis: int, diagnostics: bool
) -> dict[str, tf.Tensor]:
    """n_dis D steps (each on ``draw(i)``'s real batch and ``z``, then ``u <- u'``) and the G
    step on the last ``z``; the diagnostics from the last D step when ``diagnostics``."""
    g = parts.generator
    shared = shares_forward(g)
    stats: dict[str, tf.Tensor] = {}
    for i in range(n_dis):
        real, z = draw(i)
        last = i == n_dis - 1
        if last and shared:
            # The original ran G(z) here and again in the G step on the same z and weights:
            # the same tensor, so it is computed once (with its two batch-norm updates).
            with tf.GradientTape() as g_tape:
                fake = g(z, training=True, update_stats=2)
        else:
            fake = g(z, training=True)
        stats = d_step(parts, real, fake, diagnostics=diagnostics and last)
        update_u(parts.discriminator)
    if not shared:
        with tf.GradientTape() as g_tape:
            fake = g(z, training=True)
    stats.update(g_step_on(parts, g_tape, fake))
    return stats


# Called from Keras' traced train function: Python control flow only, so AutoGraph need not
# convert it (or the functions it calls).
@tf.autograph.experimental.do_not_convert
def train_step(model: keras.Model, data: Any) -> dict[str, tf.Tensor]:
    """:class:`gan.bsn.BSNGAN`'s ``train_step`` on TensorFlow: the paper's iteration on
    ``data``'s real images (split into ``model.n_dis`` D batches) with ``z`` and alpha from
    the model's draws."""
    reals = model._real_batches(data)
    parts = StepParts(
        model.generator,
        model.discriminator,
        model.g_optimizer,
        model.d_optimizer,
        loss=model.loss_name,
        d_gp_coe=model.gp_weight,
        slopes=True,
        uniform=model.uniform,
        num_replicas=model._replica_count(),
    )

    def draw(i: int) -> tuple[tf.Tensor, tf.Tensor]:
        return reals[i], model.sample_z(tf.shape(reals[i])[0])

    return paper_iteration(parts, draw, model.n_dis, model.diagnostics)
