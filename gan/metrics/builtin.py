"""The built-in metrics: Inception Score, FID, KID, SWD and the shapes features' FID/KID, one
:func:`~gan.metrics.names.register_metric` call each, with their own run-config keys.

The package's ``__init__`` imports this module, so the registry holds them before any config is
read. Each builder imports its callback module (TensorFlow) only when a run builds its metrics,
so checking a config stays TensorFlow-free.
"""

from __future__ import annotations

from typing import Any

from gan.keys import Key, positive
from gan.metrics.names import (
    HIGHER,
    INCEPTION,
    LOWER,
    MetricSettings,
    MetricSpec,
    register_metric,
)


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


def _is_splits(settings: MetricSettings) -> str | None:
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


register_metric(
    MetricSpec(
        "inception_score",
        ("inception_score_mean", "inception_score_std"),
        build=build_inception_score,
        better={"inception_score_mean": HIGHER},
        reads_real=False,
        counts=IS_COUNTS,
        samples="is_num_samples",
        shares=INCEPTION,
        check=_is_splits,
    )
)
register_metric(
    MetricSpec(
        "fid",
        ("fid",),
        build=build_fid,
        better={"fid": LOWER},
        reads_real=lambda settings: not settings.fid_reference,
        counts=FID_COUNTS,
        settings={"fid_reference": FID_REFERENCE},
        samples="fid_num_samples",
        real="fid_num_real",
        state=FID_SUBSET,
        shares=INCEPTION,
    )
)
register_metric(
    MetricSpec(
        "kid",
        ("kid",),
        build=build_kid,
        better={"kid": LOWER},
        counts=FID_COUNTS,
        samples="fid_num_samples",
        real="fid_num_real",
        state=FID_SUBSET,
        shares=INCEPTION,
    )
)
register_metric(
    MetricSpec(
        "swd",
        ("swd",),
        build=build_swd,
        better={"swd": LOWER},
        counts=SWD_COUNTS,
        settings={"swd_patches_per_image": SWD_PATCHES},
        samples="swd_num_samples",
        real="swd_num_samples",
        state={"swd_seed": None, "swd_real_indices": "swd_num_samples"},
    )
)
register_metric(
    MetricSpec(
        "shapes",
        ("shapes_fid", "shapes_kid"),
        build=build_shapes,
        better={"shapes_fid": LOWER, "shapes_kid": LOWER},
        counts=FID_COUNTS,
        samples="fid_num_samples",
        real="fid_num_real",
        state={"shapes_real_indices": "fid_num_real"},
        datasets=("shapes",),
    )
)
