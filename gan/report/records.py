"""What the report works with: its file names, its options, the records of runs and problems.

Shared by every module of :mod:`gan.report`; holds no logic beyond a series constructor and an
atomic text write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gan.run_folder import CHECKPOINT_DIR, COMPLETED, CRASHED, FAILED, INTERRUPTED, RUNNING
from gan.tasks import Run

REPORT_DIR = "report"
FIGURES_DIR = "figures"
CACHE_DIR = "cache"
EVENTS_GLOB = os.path.join(CHECKPOINT_DIR, "events.out.tfevents.*")
REPORT_MD = "report.md"
SUMMARY_CSV = "summary.csv"
FAILURES_CSV = "failures.csv"
CACHE_VERSION = 1

REPLICATE_KEYS = ("run", "seed")
# Preferred order of variant keys; the others follow in config order.
KEY_ORDER = (
    "dataset",
    "network",
    "loss",
    "gamma",
    "sn_mode",
    "scale",
    "n_dis",
    "g_lr",
    "d_lr",
    "g_beta1",
    "d_beta1",
    "g_beta2",
    "d_beta2",
)

HIGHER = "max"
LOWER = "min"
COMPANION = "at_best"
UNRANKED = ""
# Name tokens (split on non-alphanumerics) that decide a column's direction; LOWER wins.
LOWER_TOKENS = frozenset(
    {"fid", "kid", "swd", "fd", "mmd", "distance", "wasserstein", "loss", "error", "err"}
)
HIGHER_TOKENS = frozenset(
    {"is", "inception", "precision", "recall", "accuracy", "acc", "density", "coverage"}
)

# Run states and failure kinds, in report order. The first five come from the run-folder
# contract (gan/run_folder.py); FAILED (bad input, exit 2) is counted only when a run failed,
# so the counts of a sweep without failed runs keep their five entries.
NOT_STARTED = "not started"
DIVERGED = "diverged"
DATA = "data"
STATES = (COMPLETED, RUNNING, CRASHED, FAILED, INTERRUPTED, NOT_STARTED)
FAILURE_KINDS = (DIVERGED, CRASHED, FAILED, INTERRUPTED, RUNNING, NOT_STARTED, DATA)
OPTIONAL_KINDS = (FAILED,)

SUMMARY_FIELDS = (
    "variant",
    "metric",
    "direction",
    "runs",
    "completed",
    "with_data",
    "final_n",
    "final_mean",
    "final_std",
    "best_n",
    "best_mean",
    "best_std",
    "final_iter_min",
    "final_iter_max",
)
FAILURE_FIELDS = ("variant", "run", "folder", "kind", "iteration", "detail")


@dataclass
class ReportOptions:
    """Thresholds and conventions of a report (command-line flags ``--report_*``)."""

    fid_ratio: float = 2.0
    fid_margin: float = 50.0
    ddof: int = 0
    max_points: int = 2000
    workers: int = 0
    higher_is_better: tuple[str, ...] = ()
    lower_is_better: tuple[str, ...] = ()
    cache: bool = True


@dataclass
class Series:
    """Values of one column or scalar tag by iteration (``global_id``), steps ascending."""

    steps: np.ndarray
    values: np.ndarray

    @classmethod
    def from_pairs(cls, pairs: dict[int, float]) -> Series:
        """A series from ``{step: value}``."""
        steps = np.array(sorted(pairs), dtype=np.int64)
        return cls(steps, np.array([pairs[s] for s in steps], dtype=np.float64))


@dataclass
class Failure:
    """One problem of one run, a row of ``failures.csv``."""

    variant: str
    run: Any
    folder: str
    kind: str
    detail: str
    iteration: int | None = None


@dataclass
class RunRecord:
    """What the report read from one run folder."""

    run: Run
    variant: tuple[str, ...]
    state: str
    label: str = ""
    metrics: dict[str, Series] = field(default_factory=dict)
    metric_source: str | None = None
    scalars: dict[str, Series] = field(default_factory=dict)
    scalar_first_bad: dict[str, int] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)
    error_line: str | None = None


def counts(values: list[str], kinds: tuple[str, ...]) -> dict[str, int]:
    """``{kind: how many of values}`` in ``kinds`` order; an optional kind only when present."""
    out = {k: values.count(k) for k in kinds}
    return {k: n for k, n in out.items() if n or k not in OPTIONAL_KINDS}
