"""Metric names of the run config (``metrics``) -> callbacks, CSV columns in config order.

Each name is a :class:`~gan.metrics.names.MetricSpec` of the registry
(:mod:`gan.metrics.names`); its builder makes the callback. The built-in metrics and their
``metrics.csv`` columns:

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

from typing import Any

from gan.config import RunConfig
from gan.lazy import resolve
from gan.metrics.base import MetricCallback
from gan.metrics.names import metric_columns, metric_spec

__all__ = ["build_metrics", "metric_columns"]


def build_metrics(config: RunConfig) -> list[MetricCallback]:
    """The callbacks of ``config.metrics``, in order; Inception-based ones share one graph."""
    shared: dict[str, Any] = {}
    return [resolve(metric_spec(name).build)(config, shared) for name in config.metrics]
