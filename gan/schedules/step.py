"""The paper's CNN iteration as functions of its parts: the one implementation that the task
trainer's CNN schedule (:class:`gan.schedules.cnn.CNNSchedule`) and the library's ``fit()``
model (:class:`gan.bsn.BSNGAN`) both run (docs/faithfulness.md section 6).

Per iteration: ``n_dis`` times [a real batch and ``z`` from ``draw(i)``; G(z) in training mode
(its batch-norm averages moving); one D step; ``u <- u'`` for every normalized layer of D]; then
one G step on the ``z`` of the last D step, which moves no ``u``. With ``diagnostics`` the last
D step also returns the sigmas, gammas and input-gradient norms, computed before its update.

A generator whose ``call`` takes ``update_stats`` (the paper's, built from
:class:`gan.layers.BatchNorm`) computes G(z) of the last D step once and carries the G step's
gradient back through it, with the two batch-norm updates the original's two calls made; any
other generator is called again in the G step (same weights and ``z``: the same values and
updates, one more forward).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf

from gan import losses
from gan.layers import SpectralNormalized
from gan.schedules.base import add_gradients, sigma_scalars, slope_stats

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


def normalized_layers(model: keras.Model) -> list[SpectralNormalized]:
    """Every spectrally normalized layer of ``model``: its ``normalized_layers`` when it
    defines them (the paper's networks, in the order sigmas are logged), else every
    :class:`~gan.layers.SpectralNormalized` layer found in it, depth first."""
    found = getattr(model, "normalized_layers", None)
    if found is not None:
        return list(found)
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, SpectralNormalized)
    ]


def update_u(model: keras.Model) -> None:
    """One power-iteration step of every ``u`` of ``model`` from its current weights (the
    model's own ``update_u`` when it has one, as the paper's discriminators do)."""
    own = getattr(model, "update_u", None)
    if callable(own):
        own()
        return
    for layer in normalized_layers(model):
        layer.update_u()


def weight_diagnostics(discriminator: keras.Model) -> dict[str, tf.Tensor]:
    """Every normalized layer's sigmas (``d/sigma*``) and the gammas (``d/gamma{i}``: the
    network's, then those the layers own)."""
    if hasattr(discriminator, "sigmas"):
        sigmas = discriminator.sigmas()
    else:
        sigmas = [layer.sigmas() for layer in normalized_layers(discriminator)]
    out = sigma_scalars(sigmas)
    gammas = list(getattr(discriminator, "gammas", []))
    gammas += [layer.gamma for layer in normalized_layers(discriminator) if layer.gamma is not None]
    for i, g in enumerate(gammas):
        out[f"d/gamma{i}"] = tf.identity(g)
    return out


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
            gp = losses.gradient_penalty(d, real, fake, alpha)
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
