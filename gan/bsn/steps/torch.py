"""The paper's iteration on PyTorch, written as Keras' guide to customizing ``fit()`` with
PyTorch does: eager Keras calls, gradients by ``torch.autograd``, optimizer steps under
``torch.no_grad()``.

The iteration is the TensorFlow step's (gan/bsn/steps/tensorflow.py): ``n_dis`` times [G(z) in
training mode, one D step, ``u <- u'``], then one G step on the last ``z`` with G called again
in training mode (its batch-norm averages move on both calls, as the original's two calls moved
them). The diagnostics are computed before the last D update.
"""

from __future__ import annotations

from typing import Any

import keras
import torch

import gan.bsn.losses as losses
from gan.bsn.diagnostics import slope_stats, update_u, weight_diagnostics


def _grads(loss: torch.Tensor, variables: list[keras.Variable], **kwargs) -> list:
    """d loss / d each variable (zeros for one the loss does not reach)."""
    found = torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True, **kwargs)
    return [
        torch.zeros_like(v.value) if g is None else g for g, v in zip(found, variables, strict=True)
    ]


def input_slopes(discriminator: keras.Model, x: torch.Tensor, create_graph: bool) -> Any:
    """Per-sample ``sqrt(||d D(x) / d x||^2 + 1e-8)`` (D has no cross-sample terms)."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), [x], create_graph=create_graph)
    return losses.slope_norms(grad)


def d_step(model: keras.Model, real: Any, fake: Any, diagnostics: bool) -> dict:
    """One D update on ``real`` and the generated ``fake``; its losses (and diagnostics)."""
    d = model.discriminator
    real_term, fake_term = losses.D_TERMS[model.loss_name]
    out_real, out_fake = d(real), d(fake)
    stats = {
        "loss/d/real": real_term(out_real),
        "loss/d/fake": fake_term(out_fake),
        "d/real": torch.mean(out_real),
        "d/fake": torch.mean(out_fake),
    }
    loss = stats["loss/d/real"] + stats["loss/d/fake"]
    if model.loss_name == "wgan_gp":
        alpha = model.uniform((real.shape[0], 1, 1, 1))
        x_hat = losses.interpolate(real, fake, alpha)
        gp = losses.penalty_of_slopes(input_slopes(d, x_hat, create_graph=True))
        stats["loss/d/gp"] = gp
        loss = loss + model.gp_weight * gp
    stats["loss/d"] = loss
    grads = _grads(loss, d.trainable_variables)
    if diagnostics:
        stats.update(weight_diagnostics(d))
        for name, x in (("real", real), ("fake", fake)):
            stats.update(slope_stats(name, input_slopes(d, x, create_graph=False)))
    with torch.no_grad():
        model.d_optimizer.apply(grads, d.trainable_variables)
    return {k: v.detach() for k, v in stats.items()}


def g_step(model: keras.Model, z: Any) -> dict:
    """One G update: ``-mean(D(G(z)))`` with G in training mode; no ``u`` moves."""
    g_vars = model.generator.trainable_variables
    stats = losses.generator_loss(model.discriminator(model.generator(z, training=True)))
    grads = _grads(stats["loss/g"], g_vars)
    with torch.no_grad():
        model.g_optimizer.apply(grads, g_vars)
    return {k: v.detach() for k, v in stats.items()}


def train_step(model: keras.Model, data: Any) -> dict:
    """:class:`gan.bsn.BSNGAN`'s ``train_step`` on PyTorch: the paper's iteration on ``data``."""
    reals = model._real_batches(data)
    stats: dict = {}
    z = None
    for i in range(model.n_dis):
        with torch.no_grad():
            z = model.sample_z(reals.shape[1])
        fake = model.generator(z, training=True).detach()
        stats = d_step(model, reals[i], fake, model.diagnostics and i == model.n_dis - 1)
        with torch.no_grad():
            update_u(model.discriminator)
    stats.update(g_step(model, z))
    return stats
