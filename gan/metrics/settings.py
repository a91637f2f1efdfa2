"""What a metric's builder reads: its counts and settings as one mapping (:class:`MetricSettings`).

Imports nothing of the package, so that the registry (:mod:`gan.metrics.names`) and the
built-in builders (:mod:`gan.metrics.builtin`) both take it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class MetricSettings(Mapping[str, Any]):
    """What one metric reads: its own counts and settings and the registry's common keys
    (:data:`gan.metrics.names.COMMON_KEYS`), each also an attribute
    (``settings.fid_num_samples``)."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"metric settings have no key {name!r}") from None

    def __repr__(self) -> str:
        return f"MetricSettings({self._values!r})"
