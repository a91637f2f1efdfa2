"""Metric names of the run config (``metrics``) -> callbacks, CSV columns in config order.

Each name is a :class:`~gan.metrics.names.MetricSpec` of the registry
(:mod:`gan.metrics.names`); its builder makes the callback from the metric's own settings. The
built-in metrics (:mod:`gan.metrics.builtin`) and their ``metrics.csv`` columns:

- ``inception_score``: inception_score_mean, inception_score_std
- ``fid``: fid (against the run's real subset, or the ``fid_reference`` statistics file)
- ``kid``: kid
- ``swd``: swd
- ``shapes``: shapes_fid, shapes_kid (the shapes dataset only: features of a classifier of the
  shapes)

The header depends on ``config.metrics`` only (the default gives
``global_id,inception_score_mean,inception_score_std,fid``): where the Inception graph is
missing and ``on_missing_inception`` is "skip", the Inception-based columns stay and hold NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gan.metrics.base import MetricCallback
from gan.metrics.names import metric_columns, metric_spec

__all__ = ["build_metrics", "metric_columns"]


def build_metrics(values: Any, metrics: Sequence[str] | None = None) -> list[MetricCallback]:
    """The callbacks of the metric names ``metrics`` (default: the ``metrics`` of ``values``),
    in order, each built from its own settings in ``values`` (a run config, or a mapping of
    keys); Inception-based ones share one graph."""
    if metrics is None:
        metrics = values["metrics"] if isinstance(values, Mapping) else values.metrics
    shared: dict[str, Any] = {}
    return [
        metric_spec(name).build(metric_spec(name).settings_from(values), shared) for name in metrics
    ]
