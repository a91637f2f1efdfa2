"""One run folder as the report sees it: its state, its ``metrics.csv`` and its event scalars.

:func:`inspect_run` gathers a :class:`~gan.report.records.RunRecord`; it never raises on bad
content (a truncated CSV, a corrupt event file), it records the problem instead.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from gan.eval_csv import setting_columns
from gan.report.events import cached_event_scalars, event_stride
from gan.report.records import (
    NOT_STARTED,
    REPORT_DIR,
    RUNNING,
    ReportOptions,
    RunRecord,
    Series,
)
from gan.report.states import run_folder_state
from gan.run_folder import EVAL_DIR, EVAL_METRICS_FILE, METRICS_FILE
from gan.tasks import Run, Task


def read_metrics_csv(path: str) -> tuple[dict[str, Series], list[str]]:
    """Parse a ``metrics.csv``; returns ``{column: Series}`` and the problems found.

    Never raises on bad content: a truncated last line (no line end) and malformed rows are
    dropped and reported, empty cells are skipped, a repeated ``global_id`` keeps its last row.
    A missing file gives ``({}, ["metrics.csv missing"])``.
    """
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}, [f"{name} missing"]
    except OSError as exc:
        return {}, [f"{name} unreadable: {exc}"]
    text = data.decode("utf-8", errors="replace")
    if not text.strip():
        return {}, [f"{name} is empty"]
    lines = text.splitlines()
    issues = []
    if not text.endswith(("\n", "\r")):
        if len(lines) == 1:
            return {}, [f"{name} has only a partial header"]
        issues.append(f"{name}: last line truncated (dropped): {lines[-1][:80]!r}")
        lines = lines[:-1]
    header = next(csv.reader([lines[0]]), [])
    if not header or header[0] != "global_id" or len(header) < 2:
        return {}, [f"{name}: unexpected header {lines[0][:120]!r}"]
    columns = header[1:]
    rows: dict[int, list[str]] = {}
    bad = 0
    for row in csv.reader(lines[1:]):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            bad += 1
            continue
        try:
            step = int(row[0])
            for cell in row[1:]:
                if cell.strip():
                    float(cell)
        except ValueError:
            bad += 1
            continue
        rows[step] = row[1:]
    if bad:
        issues.append(f"{name}: {bad} malformed row{'s' if bad > 1 else ''} dropped")
    if not rows:
        issues.append(f"{name} has no data rows")
        return {}, issues
    out = {}
    for i, column in enumerate(columns):
        pairs = {step: float(cells[i]) for step, cells in rows.items() if cells[i].strip()}
        if pairs:
            out[column] = Series.from_pairs(pairs)
    return out, issues


EVAL_PREFIX = "eval_"  # report columns read from eval/metrics.csv (`main.py evaluate`)


def read_eval_csv(path: str) -> tuple[dict[str, Series], list[str]]:
    """``eval/metrics.csv`` (written by ``main.py evaluate``) as report columns
    ``eval_<column>``; returns them and the problems found (none when the file is absent).

    The file holds one row per (checkpoint, settings); a checkpoint evaluated with several
    settings contributes the row written last. Cells that are not numbers are left out.
    """
    name = f"{EVAL_DIR}/{os.path.basename(path)}"
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
    except FileNotFoundError:
        return {}, []
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        return {}, [f"{name} unreadable: {exc}"]
    if "global_id" not in fields:
        return {}, [f"{name}: no global_id column"]
    columns = [c for c in fields if c not in ("global_id", "checkpoint", *setting_columns())]
    pairs: dict[str, dict[int, float]] = {c: {} for c in columns}
    bad = 0
    for row in rows:
        try:
            step = int(row["global_id"])
        except (TypeError, ValueError):
            bad += 1
            continue
        for column in columns:
            try:
                pairs[column][step] = float(row.get(column) or "")
            except ValueError:
                continue
    issues = [f"{name}: {bad} malformed row{'s' if bad > 1 else ''} dropped"] if bad else []
    return {EVAL_PREFIX + c: Series.from_pairs(p) for c, p in pairs.items() if p}, issues


def inspect_run(
    run: Run,
    variant: tuple[str, ...],
    task: Task,
    options: ReportOptions,
    cache_dir: str | None = None,
    verdict: str | None = None,
) -> RunRecord:
    """Read one run folder: state, metrics (``metrics.csv``, else ``metric/*`` scalars),
    event scalars and the problems found; never raises on bad content."""
    ignore = [REPORT_DIR]
    if task.scheduler_config.get("scheduler_log_file_path"):
        ignore.append(os.path.basename(task.scheduler_config["scheduler_log_file_path"]))
    state, error = run_folder_state(run, task.scheduler_config.get("log_file"), ignore, verdict)
    record = RunRecord(run, variant, state, error_line=error)
    if state == NOT_STARTED:
        return record
    quiet = state == RUNNING  # a running run may not have written anything yet
    expects_metrics = bool(run.config.metrics)
    metrics, issues = read_metrics_csv(os.path.join(run.run_dir, METRICS_FILE))
    missing = not os.path.isfile(os.path.join(run.run_dir, METRICS_FILE))
    if metrics:
        record.metric_source = METRICS_FILE
    if metrics or (expects_metrics and not (quiet and missing)):
        record.issues.extend(issues)

    stride = event_stride(run.config, options.max_points)
    try:
        scalars, first_bad, ev_issues, found = cached_event_scalars(run, cache_dir, stride)
    except Exception as exc:  # an unexpected reader failure must not stop the report
        scalars, first_bad, found = {}, {}, True
        ev_issues = [f"event files unreadable: {type(exc).__name__}: {exc}"]
    record.scalars, record.scalar_first_bad = scalars, first_bad
    record.issues.extend(ev_issues)
    if not found and not quiet:
        record.issues.append("no event files (checkpoint/events.out.tfevents.*)")
    if not metrics:
        from_events = {
            tag[len("metric/") :]: s for tag, s in scalars.items() if tag.startswith("metric/")
        }
        if from_events:
            record.metrics = from_events
            record.metric_source = "events"
            record.issues.append("metrics taken from the metric/* event scalars")
    else:
        record.metrics = metrics
    evaluated, eval_issues = read_eval_csv(os.path.join(run.run_dir, EVAL_DIR, EVAL_METRICS_FILE))
    record.metrics.update(evaluated)
    record.issues.extend(eval_issues)
    for column, s in record.metrics.items():
        if not np.isfinite(s.values).any() and not np.isinf(s.values).any():
            record.issues.append(f"column {column} has no finite value")
    return record
