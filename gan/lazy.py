"""References to objects imported only when used, so the TensorFlow-free registries of metrics
(:mod:`gan.metrics.names`) and networks (:mod:`gan.networks.specs`) can name TensorFlow code."""

from __future__ import annotations

import importlib
from typing import Any

#: An object, or the string ``"package.module:attribute"`` naming one.
Ref = Any


def resolve(ref: Ref) -> Any:
    """The object ``ref`` names: a ``"module:attribute"`` string is imported now; anything
    else (a function or class given directly) is returned as it is."""
    if not isinstance(ref, str):
        return ref
    module, _, attribute = ref.partition(":")
    if not module or not attribute:
        raise ValueError(f"{ref!r}: expected 'package.module:attribute'")
    obj = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj
