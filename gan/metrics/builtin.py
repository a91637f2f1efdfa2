"""The built-in metrics' parts: Inception Score, FID, KID, SWD and the shapes features' FID/KID,
each a builder, its own run-config keys and checks.

The registry (:mod:`gan.metrics.names`) imports this module and registers them as it loads, so
it holds them before any lookup. Each builder imports its callback module (TensorFlow) only when
a run builds its metrics, so checking a config stays TensorFlow-free. This module imports
nothing of the registry, so that the registry can import it.
"""

from __future__ import annotations

from typing import Any

from gan.keys import Key, positive
from gan.metrics.settings import MetricSettings


def _at_least_two(v: Any) -> str | None:
    return None if v >= 2 else "at least 2 (a mean and a covariance need two images)"


IS_COUNTS = {
    "is_num_samples": Key((int,), 50000, "generated samples for the Inception Score", positive),
    "is_num_splits": Key((int,), 10, "splits for the Inception Score", positive),
}
FID_COUNTS = {
    "fid_num_samples": Key((int,), 10000, "generated samples for FID", _at_least_two),
    "fid_num_real": Key(
        (int,), 5000, "real images for FID (a subset fixed per run)", _at_least_two
    ),
}
FID_REFERENCE = Key(
    (str, type(None)),
    None,
    "FID against these fixed statistics (mu, sigma .npz from `main.py fid_stats`) instead of "
    "the run's fid_num_real subset (None)",
)
SWD_COUNTS = {
    "swd_num_samples": Key((int,), 2048, "generated (and real) images for SWD", positive),
}
SWD_PATCHES = Key((int,), 64, "SWD patches per image and pyramid level", positive)
FID_SUBSET = {"fid_real_indices": "fid_num_real", "fid_real_activations": "fid_num_real"}


def check_is_splits(settings: MetricSettings) -> str | None:
    """The Inception Score's check: enough samples for its splits."""
    if settings.is_num_samples < settings.is_num_splits:
        return (
            f"is_num_samples = {settings.is_num_samples} cannot make is_num_splits = "
            f"{settings.is_num_splits} splits"
        )
    return None


def build_inception_score(settings: MetricSettings, shared: dict[str, Any]) -> Any:
    """The ``inception_score`` callback."""
    # TensorFlow: the Inception metrics are imported when a run builds its metrics
    from gan.metrics.inception.callbacks import InceptionScore, shared_runner

    runner = shared_runner(settings, shared)
    return InceptionScore(runner, settings.is_num_samples, settings.is_num_splits)


def build_fid(settings: MetricSettings, shared: dict[str, Any]) -> Any:
    """The ``fid`` callback: against the run's real subset, or the ``fid_reference`` file."""
    # TensorFlow: the Inception metrics are imported when a run builds its metrics
    from gan.metrics.inception.callbacks import FrechetInceptionDistance, shared_runner
    from gan.metrics.inception.fid_against_stats import ReferenceFrechetDistance

    runner = shared_runner(settings, shared)
    if settings.fid_reference:
        return ReferenceFrechetDistance(runner, settings.fid_num_samples, settings.fid_reference)
    return FrechetInceptionDistance(runner, settings.fid_num_samples, settings.fid_num_real)


def build_kid(settings: MetricSettings, shared: dict[str, Any]) -> Any:
    """The ``kid`` callback, on the features of FID's samples and real subset."""
    # TensorFlow: the KID callback is imported when a run builds its metrics
    from gan.metrics.inception.runner import shared_runner
    from gan.metrics.kid import KernelInceptionDistance

    runner = shared_runner(settings, shared)
    return KernelInceptionDistance(runner, settings.fid_num_samples, settings.fid_num_real)


def build_swd(settings: MetricSettings, shared: dict[str, Any]) -> Any:
    """The ``swd`` callback."""
    del shared
    # TensorFlow: the SWD callback is imported when a run builds its metrics
    from gan.metrics.swd import SlicedWassersteinDistance

    return SlicedWassersteinDistance(
        settings.swd_num_samples, settings.swd_patches_per_image, settings.metric_batch_size
    )


def build_shapes(settings: MetricSettings, shared: dict[str, Any]) -> Any:
    """The ``shapes`` callback (the shapes dataset's own feature distances)."""
    del shared
    # TensorFlow: the shapes classifier is imported when a run builds its metrics
    from gan.metrics.shapes_features import ShapesFeatureDistance

    return ShapesFeatureDistance(settings.fid_num_samples, settings.fid_num_real)
