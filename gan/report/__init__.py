"""Report of a task's runs: the paper's tables, curves and a failure summary.

``python main.py report <task>`` (or :func:`write_report`) reads every run folder of a task:
``metrics.csv``, the TensorBoard event files in ``checkpoint/``, the ``COMPLETED`` marker, the
``.lock`` the scheduler holds while a run runs, and ``status.json`` (``worker.log`` only for
run folders older than ``status.json``). It writes
``<results root>/report/``:

* ``report.md``: a link to the rules, one table per metric (mean and std over runs of the final
  and of the best value, per variant), the run states, failures and data problems, figures;
* ``summary.csv``: the same tables as one CSV (every varying config key is a column);
* ``failures.csv``: one row per problem of a run (diverged, crashed, failed, interrupted,
  running, not started, data);
* ``figures/*.png``: each metric against iteration, the final main metric against ``scale``
  (SN vs BSN), per-layer sigmas and real/fake gradient norms, learned gammas.

The rules (what a variant is, final and best values, mean and std, the main metric,
divergence, run states) are written once, in docs/report.md; :mod:`~gan.report.rules` and
:mod:`~gan.report.states` apply them.

The package, one job per module: :mod:`~gan.report.records` (file names, options, records),
:mod:`~gan.report.events` (event files, cache, process pool), :mod:`~gan.report.states` (run
states), :mod:`~gan.report.runs` (one run folder read), :mod:`~gan.report.rules` (ranking,
final/best, divergence, variants), :mod:`~gan.report.figures`, :mod:`~gan.report.writer`
(markdown and CSV) and :mod:`~gan.report.summary` (:func:`write_report`, :func:`summary_text`).
"""

from gan.report.events import (
    CorruptEventFile,
    event_records,
    read_event_scalars,
    warm_event_cache,
)
from gan.report.records import (
    FAILURE_KINDS,
    NOT_STARTED,
    STATES,
    Failure,
    ReportOptions,
    RunRecord,
    Series,
)
from gan.report.rules import (
    divergence,
    is_fid_like,
    mean_std,
    metric_direction,
    pick_main_metric,
    run_final_best,
    variant_keys,
    variant_label,
)
from gan.report.runs import inspect_run, read_metrics_csv
from gan.report.states import run_folder_state, scheduler_verdicts
from gan.report.summary import ReportSummary, summary_text, write_report
from gan.report.writer import metric_table

__all__ = [
    "FAILURE_KINDS",
    "NOT_STARTED",
    "STATES",
    "CorruptEventFile",
    "Failure",
    "ReportOptions",
    "ReportSummary",
    "RunRecord",
    "Series",
    "divergence",
    "event_records",
    "inspect_run",
    "is_fid_like",
    "mean_std",
    "metric_direction",
    "metric_table",
    "pick_main_metric",
    "read_event_scalars",
    "read_metrics_csv",
    "run_final_best",
    "run_folder_state",
    "scheduler_verdicts",
    "summary_text",
    "variant_keys",
    "variant_label",
    "warm_event_cache",
    "write_report",
]
