"""The metric registry: each metric of ``metrics.csv`` is one :class:`MetricSpec`, without
TensorFlow.

A spec says everything the rest of the code needs to know about a metric: its name (the run
config's ``metrics`` entry), its columns, which way each column is better, whether it reads real
images, the config keys counting the images it reads (``evaluate``'s ``--<key>`` flags), the
state it keeps across a resume, the datasets it supports, a check of the config, and how to
build its callback. Config validation (:class:`gan.config.RunConfig`), ``--dry_run``,
training and ``evaluate`` (:func:`gan.metrics.registry.build_metrics`), the command flags
(:func:`count_flags`) and the report's ranking (:func:`column_direction`) all read it.

A new metric is a callback class (:class:`gan.metrics.base.MetricCallback`), a builder
``(config, shared) -> callback`` and one :func:`register_metric` call; the built-in ones are
registered at the end of this module, their builders named as ``"module:function"`` strings
so that importing this module (the TensorFlow-free CLI does) imports no TensorFlow.
docs/architecture.md "Adding a metric" walks through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gan.errors import ConfigError
from gan.lazy import Ref

HIGHER = "max"  # the best value of the column is its maximum
LOWER = "min"  # ... its minimum
INCEPTION = "inception"  # the group of the metrics sharing one Inception runner


@dataclass(frozen=True)
class MetricSpec:
    """One metric: what config validation, training, ``evaluate`` and the report know of it.

    - ``name``: the run config's ``metrics`` entry; ``columns``: its ``metrics.csv`` columns.
    - ``build``: ``(config, shared) -> MetricCallback``, or the ``"module:function"`` naming
      it (imported when a run builds its metrics). ``shared`` is one dict per run for work the
      metrics share (the Inception metrics keep their runner there).
    - ``better``: column -> ``HIGHER`` or ``LOWER``; a column left out is not ranked (a
      ``<x>_std`` beside ``<x>_mean`` is reported at the best ``<x>_mean``).
    - ``reads_real``: whether it compares with the real images (a function of the config
      when that depends on it).
    - ``counts``: the config keys giving the numbers it reads (positive integers), which
      ``evaluate`` also takes as ``--<key>`` flags; ``samples`` names the one counting
      generated images, ``real`` the one counting real images.
    - ``state``: the names of the arrays it keeps across a resume (``metric_state.npz``) ->
      the count key a real subset's length must equal to be reused (None: any length).
      ``shares``: the group whose kept state every member receives in ``evaluate`` (the
      Inception metrics' one real subset, whichever of them saved it).
    - ``datasets``: the datasets it can measure (None: any).
    - ``check``: ``config -> problem or None``, a rule of its own on the config's keys.
    """

    name: str
    columns: Sequence[str]
    build: Ref
    better: Mapping[str, str] = field(default_factory=dict)
    reads_real: bool | Callable[[Any], bool] = True
    counts: Sequence[str] = ()
    samples: str | None = None
    real: str | None = None
    state: Mapping[str, str | None] = field(default_factory=dict)
    shares: str | None = None
    datasets: Sequence[str] | None = None
    check: Callable[[Any], str | None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "counts", tuple(self.counts))
        if self.datasets is not None:
            object.__setattr__(self, "datasets", tuple(self.datasets))

    def needs_real(self, config: Any) -> bool:
        """Whether the metric reads real images under ``config``."""
        return self.reads_real(config) if callable(self.reads_real) else bool(self.reads_real)


_METRICS: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add ``spec`` to the registry (ValueError when it clashes with a registered metric:
    its name, a column, or a kept array with another count); returns it."""
    problems = []
    if spec.name in _METRICS:
        problems.append(f"a metric named {spec.name!r} is registered already")
    taken = {c: s.name for s in _METRICS.values() for c in s.columns}
    problems += [f"column {c!r} belongs to metric {taken[c]!r}" for c in spec.columns if c in taken]
    problems += [
        f"better: {c!r} is not one of its columns" for c in spec.better if c not in spec.columns
    ]
    problems += [
        f"better: {c} = {d!r}, expected {HIGHER!r} or {LOWER!r}"
        for c, d in spec.better.items()
        if d not in (HIGHER, LOWER)
    ]
    problems += [
        f"{what} = {key!r} is not one of its counts"
        for what, key in (("samples", spec.samples), ("real", spec.real))
        if key is not None and key not in spec.counts
    ]
    kept = kept_subset_counts()
    problems += [
        f"state {k!r} is kept by another metric with count {kept[k]!r}"
        for k, count in spec.state.items()
        if k in kept and kept[k] != count
    ]
    if problems:
        raise ValueError(f"metric {spec.name!r}: {'; '.join(problems)}")
    _METRICS[spec.name] = spec
    return spec


def unregister_metric(name: str) -> None:
    """Remove the metric ``name`` from the registry (a test's toy metric)."""
    _METRICS.pop(name, None)


def metric_names() -> list[str]:
    """The registered metric names, in registration order."""
    return list(_METRICS)


def metric_spec(name: str) -> MetricSpec:
    """The spec of the metric ``name``; ConfigError for an unknown one."""
    try:
        return _METRICS[name]
    except KeyError:
        raise ConfigError(
            f"metrics: unknown metric {name!r}; known metrics: {', '.join(_METRICS)}"
        ) from None


def check_metric_names(names: Sequence[str]) -> None:
    """Raise ConfigError for an unknown or repeated metric name."""
    names = list(names)
    for name in names:
        metric_spec(name)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"metrics: {', '.join(map(repr, repeated))} listed more than once")


def check_metrics(config: Any) -> None:
    """Raise ConfigError unless every metric of ``config`` is known, listed once, supports
    the dataset and accepts the config (its ``check``)."""
    check_metric_names(config.metrics)
    for name in config.metrics:
        spec = _METRICS[name]
        if spec.datasets is not None and config.dataset not in spec.datasets:
            raise ConfigError(
                f"metrics: {name!r} measures dataset "
                f"{' or '.join(map(repr, spec.datasets))} only, not "
                f"{config.dataset!r}"
            )
        problem = spec.check(config) if spec.check else None
        if problem:
            raise ConfigError(problem)


def metric_columns(names: Sequence[str]) -> list[str]:
    """The CSV columns (after ``global_id``) of the metrics ``names``, in order."""
    check_metric_names(names)
    return [c for name in names for c in _METRICS[name].columns]


def all_columns() -> list[str]:
    """Every registered metric's columns, in registration order."""
    return [c for spec in _METRICS.values() for c in spec.columns]


def count_flags() -> list[str]:
    """The config keys ``evaluate`` takes as count flags (``--is_num_samples`` ...), each
    once, in registration order."""
    return list(dict.fromkeys(k for spec in _METRICS.values() for k in spec.counts))


def sample_count_keys() -> list[str]:
    """The keys counting generated images, each once."""
    return list(dict.fromkeys(s.samples for s in _METRICS.values() if s.samples))


def real_count_keys() -> list[str]:
    """The keys counting real images, each once."""
    return list(dict.fromkeys(s.real for s in _METRICS.values() if s.real))


def reads_real(config: Any) -> bool:
    """Whether any metric of ``config`` reads the real images."""
    return any(metric_spec(name).needs_real(config) for name in config.metrics)


def kept_subset_counts() -> dict[str, str]:
    """Kept real subsets -> the count key their length must equal to be reused."""
    return {
        k: count for s in _METRICS.values() for k, count in s.state.items() if count is not None
    }


def shared_state_keys(group: str | None) -> set[str]:
    """The kept arrays every metric of ``group`` receives (none without a group)."""
    if group is None:
        return set()
    return {k for s in _METRICS.values() if s.shares == group for k in s.state}


def column_direction(column: str) -> str | None:
    """``HIGHER``, ``LOWER`` or ``""`` (not ranked) for a registered metric's column; None for
    a column no registered metric writes."""
    for spec in _METRICS.values():
        if column in spec.columns:
            return spec.better.get(column, "")
    return None


# ------------------------------------------------------------------------ the built-in metrics
def _is_splits(config: Any) -> str | None:
    if config.is_num_samples < config.is_num_splits:
        return (
            f"is_num_samples = {config.is_num_samples} cannot make is_num_splits = "
            f"{config.is_num_splits} splits"
        )
    return None


_FID_SUBSET = {"fid_real_indices": "fid_num_real", "fid_real_activations": "fid_num_real"}
_FID_COUNTS = ("fid_num_samples", "fid_num_real")

register_metric(
    MetricSpec(
        "inception_score",
        ("inception_score_mean", "inception_score_std"),
        build="gan.metrics.inception.callbacks:build_inception_score",
        better={"inception_score_mean": HIGHER},
        reads_real=False,
        counts=("is_num_samples", "is_num_splits"),
        samples="is_num_samples",
        shares=INCEPTION,
        check=_is_splits,
    )
)
register_metric(
    MetricSpec(
        "fid",
        ("fid",),
        build="gan.metrics.inception.reference:build_fid",
        better={"fid": LOWER},
        reads_real=lambda config: not config.fid_reference,
        counts=_FID_COUNTS,
        samples="fid_num_samples",
        real="fid_num_real",
        state=_FID_SUBSET,
        shares=INCEPTION,
    )
)
register_metric(
    MetricSpec(
        "kid",
        ("kid",),
        build="gan.metrics.extra:build_kid",
        better={"kid": LOWER},
        counts=_FID_COUNTS,
        samples="fid_num_samples",
        real="fid_num_real",
        state=_FID_SUBSET,
        shares=INCEPTION,
    )
)
register_metric(
    MetricSpec(
        "swd",
        ("swd",),
        build="gan.metrics.extra:build_swd",
        better={"swd": LOWER},
        counts=("swd_num_samples",),
        samples="swd_num_samples",
        real="swd_num_samples",
        state={"swd_seed": None, "swd_real_indices": "swd_num_samples"},
    )
)
register_metric(
    MetricSpec(
        "shapes",
        ("shapes_fid", "shapes_kid"),
        build="gan.metrics.shapes_features:build_shapes",
        better={"shapes_fid": LOWER, "shapes_kid": LOWER},
        counts=_FID_COUNTS,
        samples="fid_num_samples",
        real="fid_num_real",
        state={"shapes_real_indices": "fid_num_real"},
        datasets=("shapes",),
    )
)
