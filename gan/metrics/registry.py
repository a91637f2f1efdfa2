"""Metric names of the run config (``metrics``) -> callbacks, CSV columns in config order.

Known names and their ``metrics.csv`` columns:

- ``inception_score``: inception_score_mean, inception_score_std
- ``fid``: fid (against the run's real subset, or the ``fid_reference`` statistics file)
- ``kid``: kid
- ``swd``: swd
- ``shapes``: shapes_fid, shapes_kid (quickstart only: features of a classifier of the shapes)

The header depends on ``config["metrics"]`` only (the default gives
``global_id,inception_score_mean,inception_score_std,fid``): where the Inception graph is
missing and ``on_missing_inception`` is "skip", the Inception-based columns stay and hold NaN.
"""

from __future__ import annotations

from collections.abc import Callable

from gan.config import RUN_KEYS
from gan.metrics.base import MetricCallback
from gan.metrics.extra import KernelInceptionDistance, SlicedWassersteinDistance
from gan.metrics.inception.callbacks import FrechetInceptionDistance, InceptionScore
from gan.metrics.inception.runner import InceptionRunner
from gan.metrics.names import COLUMNS, check_metric_names
from gan.metrics.shapes_features import ShapesFeatureDistance

# Keys this module reads beyond gan.config's schema, with their defaults.
EXTRA_DEFAULTS = {"swd_num_samples": 2048, "swd_patches_per_image": 64}


def _get(config: dict, key: str):
    if key in config:
        return config[key]
    if key in RUN_KEYS:
        return RUN_KEYS[key].default
    return EXTRA_DEFAULTS[key]


def _builders(config: dict) -> dict[str, Callable[[InceptionRunner], MetricCallback]]:
    return {
        "inception_score": lambda runner: InceptionScore(
            runner, int(_get(config, "is_num_samples")), int(_get(config, "is_num_splits"))),
        "fid": lambda runner: _fid(runner, config),
        "kid": lambda runner: KernelInceptionDistance(
            runner, int(_get(config, "fid_num_samples"))),
        "swd": lambda runner: SlicedWassersteinDistance(
            int(_get(config, "swd_num_samples")), int(_get(config, "swd_patches_per_image")),
            int(_get(config, "metric_batch_size"))),
        "shapes": lambda runner: ShapesFeatureDistance(
            int(_get(config, "fid_num_samples")), int(_get(config, "fid_num_real"))),
    }


def _fid(runner: InceptionRunner, config: dict) -> MetricCallback:
    """FID against the run's fixed real subset, or against ``fid_reference`` statistics."""
    n = int(_get(config, "fid_num_samples"))
    reference = config.get("fid_reference")
    if reference:
        from gan.fid_stats import ReferenceFrechetDistance

        return ReferenceFrechetDistance(runner, n, reference)
    return FrechetInceptionDistance(runner, n)


def metric_columns(names: list[str]) -> list[str]:
    """The CSV columns (after ``global_id``) of the metrics ``names``, in order."""
    check_metric_names(list(names))
    return [c for name in names for c in COLUMNS[name]]


def build_metrics(config: dict) -> list[MetricCallback]:
    """The callbacks of ``config["metrics"]``, in order; Inception-based ones share one graph."""
    names = list(_get(config, "metrics"))
    check_metric_names(names)
    runner = InceptionRunner({key: _get(config, key) for key in (
        "metric_batch_size", "fid_num_real", "inception_graph", "on_missing_inception")})
    builders = _builders(config)
    return [builders[name](runner) for name in names]
