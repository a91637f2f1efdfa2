"""The report of a task: :func:`write_report` reads every run and writes ``report/``;
:func:`summary_text` is the short version printed on stdout."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from absl import logging

from gan.report.events import warm_event_cache
from gan.report.figures import Figures
from gan.report.records import (
    CACHE_DIR,
    DATA,
    FAILURE_KINDS,
    FAILURES_CSV,
    FIGURES_DIR,
    REPORT_DIR,
    REPORT_MD,
    SUMMARY_CSV,
    Failure,
    ReportOptions,
    RunRecord,
)
from gan.report.rules import (
    config_ident,
    group_rows,
    list_failures,
    pick_main_metric,
    variant_keys,
    variant_label,
)
from gan.report.runs import inspect_run
from gan.report.states import scheduler_verdicts
from gan.report.writer import ReportContent, failures_csv, markdown, summary_csv
from gan.run_folder import write_atomic
from gan.tasks import Task, load_task


@dataclass
class ReportSummary:
    """Where a report was written and its headline numbers."""

    task_name: str
    report_dir: str
    markdown_path: str
    summary_csv_path: str
    failures_csv_path: str
    figures: list[str]
    skipped_figures: list[tuple[str, str]]
    main_metric: str | None
    main_table: str
    state_counts: dict[str, int]
    failure_counts: dict[str, int]
    rows: list[dict[str, Any]]
    failures: list[Failure]


def _resolve_task(task: str | Task, results_dir: str | None) -> Task:
    if isinstance(task, Task):
        if results_dir is None:
            return task
        root = os.path.abspath(results_dir)
        runs = [replace(r, run_dir=os.path.join(root, r.name)) for r in task.runs]
        return replace(task, results_root=root, runs=runs)
    return load_task(task, results_dir=results_dir)


def write_report(
    task: str | Task,
    results_dir: str | None = None,
    options: ReportOptions | None = None,
    selection: str | None = None,
) -> ReportSummary:
    """Read every run of ``task`` (a task folder or a loaded :class:`Task`) and write
    ``<results root>/report/``; returns where it went and the headline numbers.

    ``results_dir`` replaces the task's results root; ``selection`` (e.g. the ``--only``
    text) is only mentioned in the report.
    """
    options = options or ReportOptions()
    task = _resolve_task(task, results_dir)
    runs = task.distinct_runs()
    report_dir = os.path.join(task.results_root, REPORT_DIR)
    os.makedirs(report_dir, exist_ok=True)
    cache_dir = os.path.join(report_dir, CACHE_DIR) if options.cache else None

    varying, shown = variant_keys(runs)
    records: list[RunRecord] = []
    variants: list[tuple[str, ...]] = []
    if cache_dir is not None:
        try:
            warm_event_cache(runs, cache_dir, options)
        except Exception as exc:  # e.g. no processes allowed: the main pass parses them
            logging.warning(
                "report: parallel parsing failed (%s: %s); parsing in this process",
                type(exc).__name__,
                exc,
            )
    verdicts = scheduler_verdicts(task.scheduler_log_path)  # legacy run folders only
    for run in runs:
        variant = tuple(config_ident(run.config.value(k)) for k in varying)
        if variant not in variants:
            variants.append(variant)
        record = inspect_run(run, variant, task, options, cache_dir, verdicts.get(run.name))
        record.label = variant_label(run, shown)
        records.append(record)

    columns: list[str] = []
    for r in records:
        for column in r.metrics:
            if column not in columns:
                columns.append(column)
    main_metric = pick_main_metric(columns, options)
    rows = group_rows(records, variants, varying, shown, columns, options)
    failures = list_failures(records, options)

    figs = Figures(
        os.path.join(report_dir, FIGURES_DIR), records, variants, shown, rows, columns, main_metric
    )
    figs.draw()
    content = ReportContent(
        task,
        selection,
        records,
        varying,
        shown,
        columns,
        rows,
        main_metric,
        failures,
        figs,
        options,
    )

    paths = {
        name: os.path.join(report_dir, name) for name in (SUMMARY_CSV, FAILURES_CSV, REPORT_MD)
    }
    write_atomic(paths[SUMMARY_CSV], summary_csv(content))
    write_atomic(paths[FAILURES_CSV], failures_csv(failures))
    write_atomic(paths[REPORT_MD], markdown(content))
    logging.info("report of %s written to %s", task.name, report_dir)
    return ReportSummary(
        task.name,
        report_dir,
        paths[REPORT_MD],
        paths[SUMMARY_CSV],
        paths[FAILURES_CSV],
        figs.written,
        figs.skipped,
        main_metric,
        content.main_table,
        content.state_counts,
        content.failure_counts,
        rows,
        failures,
    )


def summary_text(summary: ReportSummary) -> str:
    """A short stdout summary: the main metric's table, the failure counts, the location."""
    c, f = summary.state_counts, summary.failure_counts
    total = sum(c.values())
    lines = [
        f"Report of {summary.task_name}: {total} runs, "
        + ", ".join(f"{n} {s}" for s, n in c.items())
        + "."
    ]
    if summary.main_metric:
        lines += [
            f"Main metric {summary.main_metric} (final and best over runs, mean ± std):",
            summary.main_table,
        ]
    else:
        lines.append("No metric data yet.")
    lines.append(
        "Failures: "
        + ", ".join(f"{f[k]} {k}" for k in FAILURE_KINDS if k != DATA and k in f)
        + f"; {f[DATA]} runs with data problems."
    )
    lines.append(
        f"Report written to {summary.markdown_path} (summary.csv, failures.csv, "
        f"{len(summary.figures)} figures in {FIGURES_DIR}/)."
    )
    return "\n".join(lines)
