"""The report's text: ``report.md``, ``summary.csv`` and ``failures.csv``.

:class:`ReportContent` holds what a report shows (gathered by
:func:`gan.report.summary.write_report`); the functions here only format it.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gan.config import REPO_ROOT
from gan.report.figures import Figures
from gan.report.records import (
    COMPANION,
    DATA,
    DIVERGED,
    FAILURE_FIELDS,
    FAILURE_KINDS,
    HIGHER,
    LOWER,
    REPORT_DIR,
    STATES,
    SUMMARY_FIELDS,
    UNRANKED,
    Failure,
    ReportOptions,
    RunRecord,
    counts,
)
from gan.report.rules import (
    fmt_value,
    metric_direction,
)
from gan.tasks import Task

RULES_DOC = os.path.join(REPO_ROOT, "docs", "report.md")  # the report's rules, written once


@dataclass
class ReportContent:
    """What one report shows: the runs read, the variant keys, the summary rows, the
    failures and the figures drawn."""

    task: Task
    selection: str | None
    records: list[RunRecord]
    varying: list[str]
    shown: list[str]
    columns: list[str]
    rows: list[dict[str, Any]]
    main_metric: str | None
    failures: list[Failure]
    figures: Figures
    options: ReportOptions
    state_counts: dict[str, int] = field(init=False)
    failure_counts: dict[str, int] = field(init=False)
    main_table: str = field(init=False)

    def __post_init__(self) -> None:
        self.state_counts = counts([r.state for r in self.records], STATES)
        # a run counts once per kind, however many problems of that kind it has
        kinds = [
            kind
            for kind in FAILURE_KINDS
            for _ in {f.folder for f in self.failures if f.kind == kind}
        ]
        self.failure_counts = counts(kinds, FAILURE_KINDS)
        self.main_table = (
            metric_table(self.rows, self.main_metric, self.shown) if self.main_metric else ""
        )


def fmt_number(x: float | None) -> str:
    """A number with 4 significant digits; ``–`` for None and non-finite values."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.4g}"


def fmt_mean_std(mean: float, std: float) -> str:
    """``mean ± std`` (``–`` when the mean is not finite)."""
    if not math.isfinite(mean):
        return "–"
    return f"{fmt_number(mean)} ± {fmt_number(std)}"


def _csv_number(x: Any) -> Any:
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ""
    return "" if x is None else x


def markdown_table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (``|`` escaped, newlines flattened)."""

    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in body]
    return "\n".join(lines)


def metric_table(rows: Sequence[dict[str, Any]], column: str, shown: Sequence[str]) -> str:
    """The Markdown table of one metric: a line per variant."""
    header = [
        *shown,
        "runs",
        "completed",
        "with data",
        f"final {column}",
        f"best {column}",
        "final at iteration",
    ]
    body = []
    for row in rows:
        if row["metric"] != column:
            continue
        final = fmt_mean_std(row["final_mean"], row["final_std"])
        if row["final_n"] != row["with_data"] and row["final_n"]:
            final += f" (n={row['final_n']})"
        best = fmt_mean_std(row["best_mean"], row["best_std"]) if row["direction"] else "unranked"
        if row["direction"] and row["best_n"] != row["with_data"] and row["best_n"]:
            best += f" (n={row['best_n']})"
        lo, hi = row["final_iter_min"], row["final_iter_max"]
        iters = "–" if lo is None else (str(lo) if lo == hi else f"{lo}–{hi}")
        body.append(
            [
                *(fmt_value(row[k]) for k in shown),
                row["runs"],
                row["completed"],
                row["with_data"],
                final,
                best,
                iters,
            ]
        )
    return markdown_table(header, body)


def summary_csv(content: ReportContent) -> str:
    """``summary.csv``: a row per variant and metric, every varying config key a column."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*content.varying, *SUMMARY_FIELDS])
    for row in content.rows:
        writer.writerow(
            [
                *(fmt_value(row[k]) for k in content.varying),
                *(_csv_number(row[k]) for k in SUMMARY_FIELDS),
            ]
        )
    return buf.getvalue()


def failures_csv(failures: Sequence[Failure]) -> str:
    """``failures.csv``: a row per problem of a run."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FAILURE_FIELDS)
    for f in failures:
        writer.writerow(
            [
                f.variant,
                f.run,
                f.folder,
                f.kind,
                "" if f.iteration is None else f.iteration,
                f.detail,
            ]
        )
    return buf.getvalue()


def rules_text(options: ReportOptions, report_dir: str) -> list[str]:
    """The rules section of ``report.md``: a link to docs/report.md, which states the rules,
    and the settings this report applied them with."""
    std = (
        "population std (ddof=0: one run gives 0)"
        if options.ddof == 0
        else f"std with ddof={options.ddof}"
    )
    ranked = [f"`{c}` higher is better" for c in options.higher_is_better] + [
        f"`{c}` lower is better" for c in options.lower_is_better
    ]
    link = os.path.relpath(RULES_DOC, os.path.abspath(report_dir))
    return [
        f"**final** is each run's last `metrics.csv` row and **best** its best row; the rules "
        f"(variants, final and best, mean ± std, main metric, divergence, run states) are "
        f"[docs/report.md]({link}). This report used: {std}; diverged above "
        f"{options.fid_ratio:g} x best and best + {options.fid_margin:g} (FID-like columns)"
        + (f"; {', '.join(ranked)}" if ranked else "")
        + ".",
    ]


def markdown(content: ReportContent) -> str:
    """``report.md``: rules, metric tables, run states and failures, data problems, figures."""
    c = content
    task, state_counts, failure_counts = c.task, c.state_counts, c.failure_counts
    out = [
        f"# Report: {task.name}",
        "",
        f"Task folder `{task.task_dir}`, results `{task.results_root}`"
        + (f", runs selected with `--only {c.selection}`" if c.selection else "")
        + ".",
        "",
        f"{len(c.records)} run folders: "
        + ", ".join(f"{n} {s}" for s, n in state_counts.items())
        + f"; {failure_counts[DIVERGED]} diverged.",
        "",
    ]
    hidden = [k for k in c.varying if k not in c.shown]
    if hidden:
        out += [f"Also varying, but following from the shown keys: {', '.join(hidden)}.", ""]
    report_dir = os.path.join(task.results_root, REPORT_DIR)
    out += ["## Rules", "", *rules_text(c.options, report_dir), ""]
    if c.main_metric is None:
        out += ["## Metrics", "", "No run has metric data yet.", ""]
    else:
        out += [f"## Main metric: {c.main_metric}", "", c.main_table, ""]
        others = [col for col in c.columns if col != c.main_metric]
        if others:
            out += ["## Other metrics", ""]
            for column in others:
                direction = metric_direction(column, c.columns, c.options)
                how = {
                    HIGHER: "best = max",
                    LOWER: "best = min",
                    UNRANKED: "unranked",
                    COMPANION: f"best = value where {column[:-4]}_mean is best",
                }[direction]
                out += [f"### {column} ({how})", "", metric_table(c.rows, column, c.shown), ""]
    out += [
        "## Runs and failures",
        "",
        markdown_table(
            ["state / problem", "runs"],
            [[s, n] for s, n in state_counts.items()]
            + [[k, failure_counts[k]] for k in (DIVERGED, DATA)],
        ),
        "",
    ]
    listed = [f for f in c.failures if f.kind != DATA]
    if listed:
        out += [
            markdown_table(
                ["kind", "variant", "run", "folder", "iteration", "detail"],
                [
                    [
                        f.kind,
                        f.variant,
                        f.run,
                        f"`{f.folder}`",
                        "" if f.iteration is None else f.iteration,
                        f.detail,
                    ]
                    for f in listed
                ],
            ),
            "",
        ]
    data = [f for f in c.failures if f.kind == DATA]
    out += ["## Data problems", ""]
    if data:
        out += [
            markdown_table(
                ["variant", "run", "folder", "problem"],
                [[f.variant, f.run, f"`{f.folder}`", f.detail] for f in data],
            ),
            "",
        ]
    else:
        out += ["None.", ""]
    figs = c.figures
    out += ["## Figures", ""]
    for path in figs.written:
        rel = os.path.relpath(path, os.path.dirname(figs.folder))
        out += [f"![{os.path.basename(path)}]({rel})", ""]
    if figs.skipped:
        out += ["Not drawn:", ""] + [f"- `{name}`: {why}" for name, why in figs.skipped] + [""]
    return "\n".join(out)
