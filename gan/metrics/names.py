"""The metric registry: each metric of ``metrics.csv`` is one :class:`MetricSpec`, without
TensorFlow.

A spec says everything the rest of the code needs to know about a metric: its name (the run
config's ``metrics`` entry), its columns, which way each column is better, whether it reads real
images, its own run-config keys (the counts of the images it reads and its other settings), the
state it keeps across a resume, the datasets it supports, a check of its settings, and how to
build its callback. Its keys are run-config keys (:data:`gan.config.RUN_KEYS`), ``evaluate``'s
``--<count>`` flags (:func:`count_flags`) and the settings columns of ``eval/metrics.csv``
(:func:`setting_keys`). Config validation (:class:`gan.config.RunConfig`), ``--dry_run``,
training and ``evaluate`` (:func:`gan.metrics.registry.build_metrics`) and the report's ranking
(:func:`column_direction`) all read it.

A new metric is a callback class (:class:`gan.metrics.base.MetricCallback`), a builder
``(settings, shared) -> callback`` and one :func:`register_metric` call declaring its own
config keys. The built-in ones are registered at the end of this module, as it loads (their
builders and keys are in :mod:`gan.metrics.builtin`), so the registry holds them before any
lookup, whichever entry point imports it. docs/architecture.md "Adding a metric" walks through
it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gan.errors import ConfigError
from gan.keys import Key
from gan.metrics import builtin
from gan.metrics.settings import MetricSettings

HIGHER = "max"  # the best value of the column is its maximum
LOWER = "min"  # ... its minimum
INCEPTION = "inception"  # the group of the metrics sharing one Inception runner
#: Run-config keys every metric reads besides its own (the sampling batch, the Inception graph).
COMMON_KEYS = (
    "metric_batch_size",
    "inception_batch_size",
    "inception_graph",
    "on_missing_inception",
)


@dataclass(frozen=True)
class MetricSpec:
    """One metric: what config validation, training, ``evaluate`` and the report know of it.

    - ``name``: the run config's ``metrics`` entry; ``columns``: its ``metrics.csv`` columns.
    - ``build``: ``(settings, shared) -> MetricCallback``; ``settings`` is its
      :class:`MetricSettings`, ``shared`` one dict per run for work the metrics share (the
      Inception metrics keep their runner there).
    - ``better``: column -> ``HIGHER`` or ``LOWER``; a column left out is not ranked (a
      ``<x>_std`` beside ``<x>_mean`` is reported at the best ``<x>_mean``).
    - ``reads_real``: whether it compares with the real images (a function of its settings
      when that depends on them).
    - ``counts``: its run-config keys giving the numbers it reads -> their :class:`Key`
      (type, default, meaning, check); ``evaluate`` takes each as a ``--<key>`` flag.
      ``samples`` names the one counting generated images, ``real`` the one counting real
      images. ``settings``: its other run-config keys (e.g. FID's ``fid_reference``). A key
      several metrics read (FID, KID and shapes read ``fid_num_samples``) is the same
      :class:`Key` in each. Counts and settings are the settings columns of
      ``eval/metrics.csv``.
    - ``state``: the names of the arrays it keeps across a resume (``metric_state.npz``) ->
      the count key a real subset's length must equal to be reused (None: any length).
      ``shares``: the group whose kept state every member receives in ``evaluate`` (the
      Inception metrics' one real subset, whichever of them saved it).
    - ``datasets``: the datasets it can measure (None: any).
    - ``check``: ``settings -> problem or None``, a rule of its own on its settings.
    """

    name: str
    columns: Sequence[str]
    build: Callable[[MetricSettings, dict[str, Any]], Any]
    better: Mapping[str, str] = field(default_factory=dict)
    reads_real: bool | Callable[[MetricSettings], bool] = True
    counts: Mapping[str, Key] = field(default_factory=dict)
    samples: str | None = None
    real: str | None = None
    state: Mapping[str, str | None] = field(default_factory=dict)
    shares: str | None = None
    datasets: Sequence[str] | None = None
    check: Callable[[MetricSettings], str | None] | None = None
    settings: Mapping[str, Key] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        if self.datasets is not None:
            object.__setattr__(self, "datasets", tuple(self.datasets))

    @property
    def keys(self) -> dict[str, Key]:
        """Its own run-config keys: the counts, then the settings."""
        return {**self.counts, **self.settings}

    def settings_from(self, values: Any) -> MetricSettings:
        """Its :class:`MetricSettings`, read from ``values`` (a run config, or a mapping)."""
        get = values.get if isinstance(values, Mapping) else lambda k: getattr(values, k)
        return MetricSettings({k: get(k) for k in (*COMMON_KEYS, *self.keys)})

    def needs_real(self, values: Any) -> bool:
        """Whether the metric reads real images with these settings (a run config or a
        mapping of keys)."""
        if callable(self.reads_real):
            return bool(self.reads_real(self.settings_from(values)))
        return bool(self.reads_real)


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
    known = metric_keys()
    problems += [
        f"key {k!r} differs from the {k!r} another metric registered (one key, one meaning)"
        for k, key in spec.keys.items()
        if k in known and known[k] != key
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


def check_metrics(metrics: Sequence[str], dataset: str, values: Any) -> None:
    """Raise ConfigError unless every metric of ``metrics`` is known, listed once, supports
    ``dataset`` and accepts its settings in ``values`` (a run config or a mapping; its
    ``check``)."""
    check_metric_names(metrics)
    for name in metrics:
        spec = _METRICS[name]
        if spec.datasets is not None and dataset not in spec.datasets:
            raise ConfigError(
                f"metrics: {name!r} measures dataset "
                f"{' or '.join(map(repr, spec.datasets))} only, not "
                f"{dataset!r}"
            )
        problem = spec.check(spec.settings_from(values)) if spec.check else None
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


def metric_keys() -> dict[str, Key]:
    """Every registered metric's own run-config keys (counts and settings), each once, in
    registration order."""
    return {k: key for spec in _METRICS.values() for k, key in spec.keys.items()}


def setting_keys() -> list[str]:
    """The keys of :func:`metric_keys` (the settings columns of ``eval/metrics.csv``)."""
    return list(metric_keys())


def sample_count_keys() -> list[str]:
    """The keys counting generated images, each once."""
    return list(dict.fromkeys(s.samples for s in _METRICS.values() if s.samples))


def real_count_keys() -> list[str]:
    """The keys counting real images, each once."""
    return list(dict.fromkeys(s.real for s in _METRICS.values() if s.real))


def reads_real(metrics: Sequence[str], values: Any) -> bool:
    """Whether any of ``metrics`` reads the real images with the settings in ``values`` (a run
    config or a mapping of keys)."""
    return any(metric_spec(name).needs_real(values) for name in metrics)


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


# The built-in metrics, registered as the registry loads: every reader sees them first.
register_metric(
    MetricSpec(
        "inception_score",
        ("inception_score_mean", "inception_score_std"),
        build=builtin.build_inception_score,
        better={"inception_score_mean": HIGHER},
        reads_real=False,
        counts=builtin.IS_COUNTS,
        samples="is_num_samples",
        shares=INCEPTION,
        check=builtin.check_is_splits,
    )
)
register_metric(
    MetricSpec(
        "fid",
        ("fid",),
        build=builtin.build_fid,
        better={"fid": LOWER},
        reads_real=lambda settings: not settings.fid_reference,
        counts=builtin.FID_COUNTS,
        settings={"fid_reference": builtin.FID_REFERENCE},
        samples="fid_num_samples",
        real="fid_num_real",
        state=builtin.FID_SUBSET,
        shares=INCEPTION,
    )
)
register_metric(
    MetricSpec(
        "kid",
        ("kid",),
        build=builtin.build_kid,
        better={"kid": LOWER},
        counts=builtin.FID_COUNTS,
        samples="fid_num_samples",
        real="fid_num_real",
        state=builtin.FID_SUBSET,
        shares=INCEPTION,
    )
)
register_metric(
    MetricSpec(
        "swd",
        ("swd",),
        build=builtin.build_swd,
        better={"swd": LOWER},
        counts=builtin.SWD_COUNTS,
        settings={"swd_patches_per_image": builtin.SWD_PATCHES},
        samples="swd_num_samples",
        real="swd_num_samples",
        state={"swd_seed": None, "swd_real_indices": "swd_num_samples"},
    )
)
register_metric(
    MetricSpec(
        "shapes",
        ("shapes_fid", "shapes_kid"),
        build=builtin.build_shapes,
        better={"shapes_fid": LOWER, "shapes_kid": LOWER},
        counts=builtin.FID_COUNTS,
        samples="fid_num_samples",
        real="fid_num_real",
        state={"shapes_real_indices": "fid_num_real"},
        datasets=("shapes",),
    )
)
