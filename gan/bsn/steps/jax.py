"""The paper's iteration on JAX, written as Keras' guide to customizing ``fit()`` with JAX does:
a stateless ``train_step(state, data)`` that returns the logs and the new variable values.

The layers are stateful Keras code (batch norm moves its averages, ``update_u`` assigns ``u``,
the draw counter moves); each piece runs under a ``keras.StatelessScope`` mapping every variable
to its current value and the values it assigns are read back, so the step stays a pure function
that ``jax.jit`` compiles. The iteration is the TensorFlow step's (gan/bsn/steps/tensorflow.py):
``n_dis`` times [G(z) in training mode, one D step, ``u <- u'``], then one G step on the last
``z`` with G called again in training mode (its batch-norm averages move on both calls, as the
original's two calls moved them). The diagnostics are computed before the last D update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import keras

import gan.bsn.losses as losses
from gan.bsn.diagnostics import slope_stats, update_u, weight_diagnostics
from gan.bsn.steps.jax_conv import fast_conv_transpose_gradient


class Values:
    """The current value of every variable of a step, by variable identity."""

    def __init__(self, variables: list[keras.Variable], values: list[Any]):
        self.variables = variables
        self.current = {id(v): x for v, x in zip(variables, values, strict=True)}

    def of(self, variables: list[keras.Variable]) -> list[Any]:
        """The current values of ``variables``."""
        return [self.current[id(v)] for v in variables]

    def run(self, fn: Callable[[], Any], overrides: dict[int, Any] | None = None) -> tuple:
        """``fn()`` with every variable read as its current value (or ``overrides[id]``);
        returns its result and the non-trainable values it leaves (assigned or not)."""
        overrides = overrides or {}
        mapping = [(v, overrides.get(id(v), self.current[id(v)])) for v in self.variables]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            out = fn()
        left = {id(v): scope.get_current_value(v) for v in self.variables if not v.trainable}
        return out, left

    def apply(self, optimizer: keras.optimizers.Optimizer, grads: list, variables: list) -> None:
        """One ``optimizer`` step on ``variables`` with ``grads``, statelessly."""
        new_vars, new_slots = optimizer.stateless_apply(
            self.of(optimizer.variables), grads, self.of(variables)
        )
        self.current.update(zip(map(id, variables), new_vars, strict=True))
        self.current.update(zip(map(id, optimizer.variables), new_slots, strict=True))


def input_slopes(discriminator: keras.Model, x: Any) -> Any:
    """Per-sample ``sqrt(||d D(x) / d x||^2 + 1e-8)`` (D has no cross-sample terms)."""
    grad = jax.grad(lambda x: jnp.sum(discriminator(x)))(x)
    return losses.slope_norms(grad)


def d_step(model: keras.Model, values: Values, real: Any, fake: Any, diagnostics: bool) -> dict:
    """One D update on ``real`` and the generated ``fake``; its losses (and diagnostics)."""
    d = model.discriminator
    d_vars = d.trainable_variables
    real_term, fake_term = losses.D_TERMS[model.loss_name]

    def loss_fn(d_values: list) -> tuple:
        def body() -> tuple:
            out_real, out_fake = d(real), d(fake)
            stats = {
                "loss/d/real": real_term(out_real),
                "loss/d/fake": fake_term(out_fake),
                "d/real": jnp.mean(out_real),
                "d/fake": jnp.mean(out_fake),
            }
            loss = stats["loss/d/real"] + stats["loss/d/fake"]
            if model.loss_name == "wgan_gp":
                alpha = model.uniform((real.shape[0], 1, 1, 1))
                x_hat = losses.interpolate(real, fake, alpha)
                gp = losses.penalty_of_slopes(input_slopes(d, x_hat))
                stats["loss/d/gp"] = gp
                loss = loss + model.gp_weight * gp
            stats["loss/d"] = loss
            if diagnostics:
                stats.update(weight_diagnostics(d))
                for name, x in (("real", real), ("fake", fake)):
                    stats.update(slope_stats(name, input_slopes(d, x)))
            return loss, stats

        (loss, stats), left = values.run(body, dict(zip(map(id, d_vars), d_values, strict=True)))
        return loss, (stats, left)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (_, (stats, left)), grads = grad_fn(values.of(d_vars))
    values.current.update(left)
    values.apply(model.d_optimizer, grads, d_vars)
    return stats


def g_step(model: keras.Model, values: Values, z: Any) -> dict:
    """One G update: ``-mean(D(G(z)))`` with G in training mode; no ``u`` moves."""
    g_vars = model.generator.trainable_variables

    def loss_fn(g_values: list) -> tuple:
        def body() -> dict:
            fake = model.generator(z, training=True)
            return losses.generator_loss(model.discriminator(fake))

        stats, left = values.run(body, dict(zip(map(id, g_vars), g_values, strict=True)))
        return stats["loss/g"], (stats, left)

    (_, (stats, left)), grads = jax.value_and_grad(loss_fn, has_aux=True)(values.of(g_vars))
    values.current.update(left)
    values.apply(model.g_optimizer, grads, g_vars)
    return stats


def train_step(model: keras.Model, state: tuple, data: Any) -> tuple[dict, tuple]:
    """:class:`gan.bsn.BSNGAN`'s stateless ``train_step`` on JAX: the paper's iteration on
    ``data``; returns the logs and the new ``(trainable, non-trainable, optimizer, metrics)``
    values (the D optimizer's variables ride with the non-trainable ones). Transposed
    convolutions take their kernel gradient in the form XLA:CPU runs fast (``jax_conv``)."""
    with fast_conv_transpose_gradient():
        return _train_step(model, state, data)


def _train_step(model: keras.Model, state: tuple, data: Any) -> tuple[dict, tuple]:
    trainable, non_trainable, optimizer_values, metrics_values = state
    groups = (
        list(model.trainable_variables),
        list(model.non_trainable_variables),
        list(model.optimizer.variables),
    )
    values = Values(
        [v for group in groups for v in group],
        list(trainable) + list(non_trainable) + list(optimizer_values),
    )
    reals = model._real_batches(data)
    stats: dict = {}
    z = None
    for i in range(model.n_dis):
        z, left = values.run(lambda real=reals[i]: model.sample_z(real.shape[0]))
        values.current.update(left)
        fake, left = values.run(lambda z=z: model.generator(z, training=True))
        values.current.update(left)
        last = i == model.n_dis - 1
        stats = d_step(model, values, reals[i], fake, model.diagnostics and last)
        _, left = values.run(lambda: update_u(model.discriminator))
        values.current.update(left)
    stats.update(g_step(model, values, z))
    new_state = tuple(values.of(group) for group in groups) + (metrics_values,)
    return stats, new_state
