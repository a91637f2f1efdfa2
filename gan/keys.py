"""A config key's description and checks (type, range, a misspelt name), without TensorFlow.

The run config (:mod:`gan.config`), the task files' scheduler keys (:mod:`gan.tasks`) and the
metrics' own keys (:mod:`gan.metrics.names`) are described by :class:`Key` and checked by
:func:`check_value`; this module imports only :mod:`gan.errors`, so each can use it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gan.errors import ConfigError

#: The default of a key that must be given.
REQUIRED = object()


@dataclass(frozen=True)
class Key:
    """One known config key: accepted types, default and an extra check."""

    types: tuple[type, ...]
    default: Any
    doc: str
    check: Callable[[Any], str | None] | None = None


def positive(v: Any) -> str | None:
    """None when ``v > 0``, else what was expected."""
    return None if v > 0 else "a positive number"


def non_negative(v: Any) -> str | None:
    """None when ``v >= 0``, else what was expected."""
    return None if v >= 0 else "a number >= 0"


def one_of(choices: Collection[str]) -> Callable[[Any], str | None]:
    """A check accepting the values of ``choices`` only."""

    def check(v: Any) -> str | None:
        return None if v in choices else "one of " + ", ".join(repr(c) for c in choices)

    return check


def optional_positive(v: Any) -> str | None:
    """None when ``v`` is None or > 0, else what was expected."""
    return None if v is None or v > 0 else "a positive integer or None (never)"


def type_name(types: tuple[type, ...]) -> str:
    """How a message names the accepted ``types`` ("an integer or None")."""
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "True/False",
        list: "a list",
        tuple: "a list",
        type(None): "None",
    }
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


def unknown_key_message(key: str, known: Mapping[str, Key], where: str) -> str:
    """The error text for a key not in ``known``, with the closest known names."""
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return f"{where}: unknown key {key!r}{hint}; known keys: {', '.join(sorted(known))}"


def check_value(key: str, value: Any, spec: Key, where: str) -> None:
    """Raise ConfigError unless ``value`` has the type and range ``spec`` asks for."""
    if value is None and spec.default is None:
        return
    ok_type = isinstance(value, spec.types) and not (
        isinstance(value, bool) and bool not in spec.types
    )
    if isinstance(value, float) and not math.isfinite(value):
        ok_type = False
    if not ok_type:
        raise ConfigError(f"{where}: {key} = {value!r}, expected {type_name(spec.types)}")
    if spec.check is not None and value is not None:
        problem = spec.check(value)
        if problem:
            raise ConfigError(f"{where}: {key} = {value!r}, expected {problem}")
