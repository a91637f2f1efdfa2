"""A model's spectrally normalized layers: finding them, the ``u`` update after a D step, and the
paper's diagnostics (every sigma, the gammas, the input-gradient norms' statistics) as scalars.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from gan.bsn.layers import SpectralNormalized


def normalized_layers(model: keras.Model) -> list[SpectralNormalized]:
    """Every spectrally normalized layer of ``model``: its ``normalized_layers`` when it
    defines them (the paper's networks, in the order sigmas are logged), else every
    :class:`SpectralNormalized` layer found in it, depth first."""
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


def sigma_scalars(sigmas: list) -> dict[str, Any]:
    """Scalar names of a (nested) sigma list, as the original named them.

    A layer's ``[sigma]`` is one scalar, BSN's ``[mean, s1, s2]`` three: the CNN gives
    ``d/sigma{i}`` (SN) or ``d/sigma{i}_{j}`` (BSN); the ResNet, nested per block and conv,
    gives ``d/sigma{i}_{j}`` (SN) or ``d/sigma{i}_{j}_{k}`` (BSN), and ``d/sigma{n}`` for its
    dense.
    """
    out: dict[str, Any] = {}

    def walk(node, name: str) -> None:
        if not isinstance(node, (list, tuple)):
            out[name] = node
        elif len(node) == 1:
            walk(node[0], name)
        else:
            for j, child in enumerate(node):
                walk(child, f"{name}_{j}")

    for i, layer in enumerate(sigmas):
        walk(layer, f"d/sigma{i}")
    return out


def slope_stats(name: str, slopes: Any) -> dict[str, Any]:
    """``d/{mean,min,max}_<name>_slopes`` of per-sample input-gradient norms."""
    return {
        f"d/mean_{name}_slopes": ops.mean(slopes),
        f"d/min_{name}_slopes": ops.min(slopes),
        f"d/max_{name}_slopes": ops.max(slopes),
    }


def weight_diagnostics(discriminator: keras.Model) -> dict[str, Any]:
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
        out[f"d/gamma{i}"] = g * 1.0  # its value now (a copy, not the variable)
    return out
