"""Metric names and their ``metrics.csv`` columns, without importing TensorFlow.

The scheduler's pre-flight checks read these before any run starts; ``gan.metrics.registry``
builds the callbacks of the same names.
"""

from __future__ import annotations

from gan.errors import ConfigError

COLUMNS: dict[str, list[str]] = {
    "inception_score": ["inception_score_mean", "inception_score_std"],
    "fid": ["fid"],
    "kid": ["kid"],
    "swd": ["swd"],
    "shapes": ["shapes_fid", "shapes_kid"],
}


def check_metric_names(names: list[str]) -> None:
    """Raise ConfigError for an unknown or repeated metric name."""
    for name in names:
        if name not in COLUMNS:
            raise ConfigError(f"metrics: unknown metric {name!r}; known metrics: "
                              f"{', '.join(COLUMNS)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"metrics: {', '.join(map(repr, repeated))} listed more than once")
