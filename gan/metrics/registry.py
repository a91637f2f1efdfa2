"""Metric names of the run config (``metrics``) -> callbacks, CSV columns in config order.

Known names and their ``metrics.csv`` columns:

- ``inception_score``: inception_score_mean, inception_score_std
- ``fid``: fid (against the run's real subset, or the ``fid_reference`` statistics file)
- ``kid``: kid
- ``swd``: swd
- ``shapes``: shapes_fid, shapes_kid (quickstart only: features of a classifier of the shapes)

The header depends on ``config.metrics`` only (the default gives
``global_id,inception_score_mean,inception_score_std,fid``): where the Inception graph is
missing and ``on_missing_inception`` is "skip", the Inception-based columns stay and hold NaN.
"""

from __future__ import annotations

from collections.abc import Callable

from gan.config import RunConfig
from gan.metrics.base import MetricCallback
from gan.metrics.extra import KernelInceptionDistance, SlicedWassersteinDistance
from gan.metrics.inception.callbacks import FrechetInceptionDistance, InceptionScore
from gan.metrics.inception.reference import ReferenceFrechetDistance
from gan.metrics.inception.runner import InceptionRunner
from gan.metrics.names import COLUMNS, check_metric_names
from gan.metrics.shapes_features import ShapesFeatureDistance


def _builders(config: RunConfig) -> dict[str, Callable[[InceptionRunner], MetricCallback]]:
    return {
        "inception_score": lambda runner: InceptionScore(
            runner, config.is_num_samples, config.is_num_splits),
        "fid": lambda runner: _fid(runner, config),
        "kid": lambda runner: KernelInceptionDistance(
            runner, config.fid_num_samples),
        "swd": lambda runner: SlicedWassersteinDistance(
            config.swd_num_samples, config.swd_patches_per_image,
            config.metric_batch_size),
        "shapes": lambda runner: ShapesFeatureDistance(
            config.fid_num_samples, config.fid_num_real),
    }


def _fid(runner: InceptionRunner, config: RunConfig) -> MetricCallback:
    """FID against the run's fixed real subset, or against ``fid_reference`` statistics."""
    n = config.fid_num_samples
    reference = config.fid_reference
    if reference:
        return ReferenceFrechetDistance(runner, n, reference)
    return FrechetInceptionDistance(runner, n)


def metric_columns(names: list[str]) -> list[str]:
    """The CSV columns (after ``global_id``) of the metrics ``names``, in order."""
    check_metric_names(list(names))
    return [c for name in names for c in COLUMNS[name]]


def build_metrics(config: RunConfig) -> list[MetricCallback]:
    """The callbacks of ``config.metrics``, in order; Inception-based ones share one graph."""
    names = list(config.metrics)
    runner = InceptionRunner(config)
    builders = _builders(config)
    return [builders[name](runner) for name in names]
