"""The report's rules: which way a metric ranks, final and best values, divergence, variants.

Pure functions of run records; the rules are written once, in docs/report.md (every
``report.md`` links there, :func:`gan.report.writer.rules_text`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from gan.config import RUN_KEYS
from gan.metrics.names import column_direction
from gan.report.records import (
    COMPANION,
    COMPLETED,
    CRASHED,
    DATA,
    DIVERGED,
    FAILED,
    FAILURE_KINDS,
    HIGHER,
    HIGHER_TOKENS,
    INTERRUPTED,
    KEY_ORDER,
    LOWER,
    LOWER_TOKENS,
    NOT_STARTED,
    REPLICATE_KEYS,
    RUNNING,
    UNRANKED,
    Failure,
    ReportOptions,
    RunRecord,
)
from gan.report.runs import EVAL_PREFIX
from gan.run_folder import LOCK_FILE
from gan.tasks import Run


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", name.lower()) if t}


def metric_direction(
    column: str, columns: Sequence[str] = (), options: ReportOptions | None = None
) -> str:
    """How a column's best value is chosen: ``max``, ``min``, ``at_best`` or ``""`` (none).

    Explicit ``higher_is_better`` / ``lower_is_better`` names win. A ``<x>_std`` column is
    never ranked itself: with a ``<x>_mean`` column beside it, it is ``at_best`` (its value at
    the row where ``<x>_mean`` is best), else unranked. A column of a registered metric (also
    as ``eval_<column>``) ranks as its spec says (``better``, :mod:`gan.metrics.names`).
    Otherwise the name's tokens (split on non-alphanumerics) decide: fid, kid, swd, fd, mmd,
    distance, wasserstein, loss, error, err make it a distance (``min``); is, inception,
    precision, recall, accuracy, acc, density, coverage make it a score (``max``); anything
    else is unranked.
    """
    options = options or ReportOptions()
    if column in options.higher_is_better:
        return HIGHER
    if column in options.lower_is_better:
        return LOWER
    if column.endswith("_std"):
        return COMPANION if column[:-4] + "_mean" in columns else UNRANKED
    registered = column_direction(column.removeprefix(EVAL_PREFIX))
    if registered is not None:
        return registered
    tokens = _tokens(column)
    if tokens & LOWER_TOKENS:
        return LOWER
    if tokens & HIGHER_TOKENS:
        return HIGHER
    return UNRANKED


def is_fid_like(column: str) -> bool:
    """Columns the FID-rise divergence rule applies to: a ``fid`` token in the name."""
    return "fid" in _tokens(column)


def pick_main_metric(columns: Sequence[str], options: ReportOptions | None = None) -> str | None:
    """``fid``, else the first FID-like column, else the first distance, else the first
    ranked column, else the first column."""
    if not columns:
        return None
    if "fid" in columns:
        return "fid"
    for test in (
        is_fid_like,
        lambda c: metric_direction(c, columns, options) == LOWER,
        lambda c: metric_direction(c, columns, options) in (LOWER, HIGHER),
    ):
        for column in columns:
            if test(column):
                return column
    return columns[0]


def _best_index(values: np.ndarray, direction: str) -> int | None:
    finite = np.isfinite(values)
    if not finite.any():
        return None
    masked = np.where(finite, values, -np.inf if direction == HIGHER else np.inf)
    return int(np.argmax(masked) if direction == HIGHER else np.argmin(masked))


def run_final_best(
    record: RunRecord, column: str, direction: str, columns: Sequence[str]
) -> tuple[float | None, int | None, float | None]:
    """``(final value, its iteration, best value)`` of one run's column; None where absent.

    final is the value of the run's last row holding the column, None when that value is not
    finite; best follows ``direction`` over the finite values (None when unranked).
    """
    s = record.metrics.get(column)
    if s is None or not np.isfinite(s.values).any():
        return None, None, None
    final = float(s.values[-1]) if np.isfinite(s.values[-1]) else None
    final_step = int(s.steps[-1])
    best = None
    if direction in (HIGHER, LOWER):
        best = float(s.values[_best_index(s.values, direction)])
    elif direction == COMPANION:
        base = record.metrics.get(column[:-4] + "_mean")
        base_dir = metric_direction(column[:-4] + "_mean", columns)
        if base is not None and base_dir in (HIGHER, LOWER):
            i = _best_index(base.values, base_dir)
            if i is not None:
                where = np.nonzero(s.steps == base.steps[i])[0]
                if where.size and np.isfinite(s.values[where[0]]):
                    best = float(s.values[where[0]])
    return final, final_step, best


def mean_std(values: Sequence[float], ddof: int = 0) -> tuple[float, float]:
    """Mean and std (``ddof``) of ``values``; NaN where undefined (no values, ddof >= n)."""
    if not values:
        return math.nan, math.nan
    arr = np.asarray(values, dtype=np.float64)
    std = float(np.std(arr, ddof=ddof)) if arr.size > ddof else math.nan
    return float(np.mean(arr)), std


#: The never-learned rule: a hinge-loss run whose ``loss/d`` is at most ``D_LOSS_FLOOR`` at its
#: last logged step and at no fewer than ``PINNED_SHARE`` of its (at least ``PINNED_MIN_POINTS``)
#: logged steps. The discriminator then separates every real from every generated batch by the
#: hinge margin and the generator learns nothing; a learning GAN's D loss stays near 1-2.
D_LOSS_FLOOR = 1e-3
PINNED_SHARE = 1 / 3
PINNED_MIN_POINTS = 10


def never_learned(record: RunRecord) -> tuple[str, int] | None:
    """``(detail, first pinned iteration)`` when the run's discriminator loss was pinned at 0
    (see :data:`D_LOSS_FLOOR`); None otherwise, and for losses without a floor at 0 (WGAN)."""
    s = record.scalars.get("loss/d")
    if record.run.config.loss != "hinge" or s is None or s.values.size < PINNED_MIN_POINTS:
        return None
    pinned = np.isfinite(s.values) & (np.abs(s.values) <= D_LOSS_FLOOR)
    if not pinned[-1] or pinned.sum() < PINNED_SHARE * s.values.size:
        return None
    first = int(s.steps[int(np.argmax(pinned))])
    return (
        f"never learned: the discriminator's loss loss/d is at most {D_LOSS_FLOOR:g} at "
        f"{int(pinned.sum())} of its {s.values.size} logged steps (the first at iteration "
        f"{first}, the last included): it separates every batch and the generator gets no "
        "signal",
        first,
    )


def divergence(record: RunRecord, options: ReportOptions) -> list[tuple[str, int | None]]:
    """Why a run counts as diverged (or never learned, :func:`never_learned`):
    ``[(detail, iteration)]`` by iteration (empty if not)."""
    out = []
    stuck = never_learned(record)
    if stuck is not None:
        out.append(stuck)
    not_finite: dict[int, list[str]] = {}
    for column, s in record.metrics.items():
        finite = np.isfinite(s.values)
        bad = np.nonzero(~finite & (np.isinf(s.values) | (np.cumsum(finite) > 0)))[0]
        if bad.size:
            i = int(bad[0])
            not_finite.setdefault(int(s.steps[i]), []).append(f"{column}={s.values[i]}")
            continue
        if is_fid_like(column) and finite.any() and finite[-1]:
            i = _best_index(s.values, LOWER)
            best, final = float(s.values[i]), float(s.values[-1])
            if final > options.fid_ratio * best and final > best + options.fid_margin:
                out.append(
                    (
                        f"{column} rose from its best {best:.4g} (iteration "
                        f"{int(s.steps[i])}) to {final:.4g} (iteration "
                        f"{int(s.steps[-1])})",
                        int(s.steps[-1]),
                    )
                )
    out += [
        (f"metrics not finite at iteration {step}: {', '.join(cols)}", step)
        for step, cols in not_finite.items()
    ]
    out += [
        (f"{tag} is not finite at iteration {step}", step)
        for tag, step in record.scalar_first_bad.items()
        if tag.startswith("loss/")
    ]
    out.sort(key=lambda item: (item[1], item[0]))
    return out


# ---------------------------------------------------------------------------------------------
# variants


def config_ident(value: Any) -> str:
    """A config value as a comparable string (JSON, else its repr)."""
    try:
        return json.dumps(value, sort_keys=True)
    except TypeError:
        return repr(value)


def variant_keys(runs: Sequence[Run]) -> tuple[list[str], list[str]]:
    """``(keys, shown)``: the config keys that vary over ``runs`` (not ``run``/``seed``), and
    the subset shown in tables (keys that follow from the others are left out)."""
    if not runs:
        return [], []
    names = list(RUN_KEYS)
    varying = [
        k
        for k in names
        if k not in REPLICATE_KEYS and len({config_ident(r.config.value(k)) for r in runs}) > 1
    ]
    rank = {k: i for i, k in enumerate(KEY_ORDER)}
    varying.sort(key=lambda k: (rank.get(k, len(rank)), names.index(k)))
    shown = list(varying)

    def count(keys: list[str]) -> int:
        return len({tuple(config_ident(r.config.value(k)) for k in keys) for r in runs})

    total = count(shown)
    for key in reversed(varying):
        rest = [k for k in shown if k != key]
        if count(rest) == total:
            shown = rest
    return varying, shown


def fmt_value(value: Any) -> str:
    """A config value as shown in tables and labels."""
    return str(value)


def variant_label(run: Run, shown: Sequence[str]) -> str:
    """``key=value, ...`` of the shown variant keys (``all runs`` when none vary)."""
    return ", ".join(f"{k}={fmt_value(run.config.value(k))}" for k in shown) or "all runs"


def group_rows(
    records: list[RunRecord],
    variants: list[tuple[str, ...]],
    varying: list[str],
    shown: list[str],
    columns: list[str],
    options: ReportOptions,
) -> list[dict[str, Any]]:
    """The summary rows: per variant and metric column, the final and best mean/std."""
    rows = []
    for variant in variants:
        members = [r for r in records if r.variant == variant]
        first = members[0].run
        base: dict[str, Any] = {k: first.config.value(k) for k in varying}
        base["variant"] = variant_label(first, shown)
        base["runs"] = len(members)
        base["completed"] = sum(r.state == COMPLETED for r in members)
        for column in columns or [""]:
            row = dict(base, metric=column)
            direction = metric_direction(column, columns, options) if column else UNRANKED
            finals, bests, steps = [], [], []
            with_data = 0
            for r in members:
                if not column:
                    continue
                final, step, best = run_final_best(r, column, direction, columns)
                if step is None:
                    continue
                with_data += 1
                steps.append(step)
                if final is not None:
                    finals.append(final)
                if best is not None:
                    bests.append(best)
            row["direction"] = direction
            row["with_data"] = with_data
            row["final_n"] = len(finals)
            row["final_mean"], row["final_std"] = mean_std(finals, options.ddof)
            row["best_n"] = len(bests)
            row["best_mean"], row["best_std"] = mean_std(bests, options.ddof)
            row["final_iter_min"] = min(steps) if steps else None
            row["final_iter_max"] = max(steps) if steps else None
            rows.append(row)
    return rows


def list_failures(records: list[RunRecord], options: ReportOptions) -> list[Failure]:
    """Every problem of every run, ordered by kind (FAILURE_KINDS) then by task order."""
    state_detail = {
        CRASHED: None,
        FAILED: None,
        INTERRUPTED: "stopped by a signal after a checkpoint; the next start resumes it",
        RUNNING: f"{LOCK_FILE} is held by another process",
        NOT_STARTED: "no run folder",
    }
    out: list[tuple[int, Failure]] = []
    for index, r in enumerate(records):
        base = {"variant": r.label, "run": r.run.config.run, "folder": r.run.name}
        problems = [(DIVERGED, detail, step) for detail, step in divergence(r, options)]
        if r.state in state_detail:
            problems.append((r.state, state_detail[r.state] or r.error_line or "", None))
        problems += [(DATA, issue, None) for issue in r.issues]
        out += [
            (index, Failure(kind=kind, detail=detail, iteration=step, **base))
            for kind, detail, step in problems
        ]
    order = {k: i for i, k in enumerate(FAILURE_KINDS)}
    out.sort(key=lambda item: (order[item[1].kind], item[0]))
    return [f for _, f in out]
