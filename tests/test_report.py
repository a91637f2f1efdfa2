"""Tests of ``gan/report/`` and ``python main.py report``: synthetic run folders with known
metrics and event scalars, every run state, the tables' numbers, figures and the CLI."""

from __future__ import annotations

import csv
import fcntl
import math
import os
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import main
from gan import commands, report
from gan.report import (
    ReportOptions,
    Series,
    mean_std,
    metric_direction,
    pick_main_metric,
    read_event_scalars,
    read_metrics_csv,
    summary_text,
    write_report,
)
from gan.run_folder import (
    CRASHED,
    FAILED,
    INTERRUPTED,
    RUNNING,
    RunStatus,
    process_status,
    update_status,
    write_status,
)
from gan.tasks import load_task

HEADER = "global_id,inception_score_mean,inception_score_std,fid"
TRACEBACK = """\
===== 2026-01-01 10:00:00 scheduler starts this run on CUDA_VISIBLE_DEVICES='0' =====
I0101 10:00:01 trainer.py:1] iter 1/300
Traceback (most recent call last):
  File "gan/run.py", line 1, in <module>
RuntimeError: boom at iteration 150
"""
STOPPED = """\
===== 2026-01-01 10:00:00 scheduler starts this run on CUDA_VISIBLE_DEVICES='0' =====
W0101 10:00:02 run.py:1] signal 15: stopping after this iteration
W0101 10:00:02 trainer.py:1] stop requested: saved checkpoint at iteration 149
"""

# (IS mean, IS std, FID) at global_id 99, 199, 299 of the runs with full data.
ROWS = {
    ("SN", 1.0, 0): [(5.0, 0.1, 40.0), (6.0, 0.2, 30.0), (5.5, 0.3, 35.0)],
    ("SN", 1.0, 1): [(4.0, 0.1, 50.0), (7.0, 0.4, 20.0), (6.5, 0.5, 25.0)],
    ("SN", 1.0, 2): [(5.0, 0.1, 45.0), (5.0, 0.2, 45.0), (6.0, 0.6, 28.0)],
    ("BSN", 1.0, 0): [(6.0, 0.1, 30.0), (7.5, 0.2, 22.0), (8.0, 0.3, 18.0)],
    ("BSN", 1.0, 1): [(6.5, 0.1, 26.0), (7.0, 0.2, 24.0)],  # stopped early: 2 rows
    ("SN", 1.6, 0): [(3.0, 0.1, 60.0), (3.5, 0.1, 55.0), (math.nan, math.nan, math.nan)],
    ("SN", 1.6, 1): [(4.0, 0.1, 30.0), (3.0, 0.1, 40.0), (2.0, 0.1, 120.0)],
    ("SN", 1.6, 2): [(3.0, 0.2, 70.0)],  # running
    ("BSN", 1.6, 0): [(6.0, 0.1, 35.0), (6.0, 0.2, 33.0), (6.2, 0.3, 31.0)],
}
SCALAR_STEPS = range(0, 300, 10)


def write_task(root, test_config: str, global_extra: str = "") -> str:
    task = root / "task"
    task.mkdir()
    (task / "config.py").write_text(
        textwrap.dedent(f"""
        config = {{
            "scheduler_config": {{"gpu": ["0"], "result_root_folder": "results"}},
            "global_config": {{
                "dataset": "cifar10", "mg": 4, "iteration": 300, "metric_freq": 100,
                {global_extra}
            }},
            "test_config": {test_config},
        }}
    """)
    )
    return str(task)


def write_metrics(run_dir, rows, header=HEADER, tail=""):
    os.makedirs(run_dir, exist_ok=True)
    lines = [header] + [
        f"{99 + 100 * i}," + ",".join(f"{v:.12f}" for v in row) for i, row in enumerate(rows)
    ]
    with open(os.path.join(run_dir, "metrics.csv"), "w", newline="") as f:
        f.write("\r\n".join(lines) + "\r\n" + tail)


def write_scalars(run_dir, values_by_tag):
    """TF2 tf.summary scalars (tensor form) in run_dir/checkpoint."""
    writer = tf.summary.create_file_writer(os.path.join(run_dir, "checkpoint"))
    with writer.as_default():
        for tag, fn in values_by_tag.items():
            for step in SCALAR_STEPS:
                tf.summary.scalar(tag, fn(step), step=step)
    writer.close()


SN_TAGS = {
    "loss/d": lambda s: 1.0 - s / 1000,
    "loss/g": lambda s: 0.5,
    "d/sigma0": lambda s: 1.0 + s / 100,
    "d/sigma1": lambda s: 2.0 + s / 100,
    "d/mean_real_slopes": lambda s: 0.5,
    "d/mean_fake_slopes": lambda s: 0.25,
}
BSN_TAGS = {
    "loss/d": lambda s: 1.0,
    "d/sigma0_0": lambda s: 1.5,
    "d/sigma0_1": lambda s: 1.0,
    "d/sigma0_2": lambda s: 2.0,
    "d/sigma1": lambda s: 3.0,
    "d/mean_real_slopes": lambda s: 0.4,
    "d/mean_fake_slopes": lambda s: 0.2,
    "d/scale0": lambda s: 1.0 + s / 300,
    "d/scale1": lambda s: 1.0 - s / 600,
}


@pytest.fixture()
def sweep(tmp_path):
    """12 runs (SN/BSN x scale 1.0/1.6 x 3) in every state; returns (task dir, runs, lock fd)."""
    task_dir = write_task(
        tmp_path, '[{"sn_mode": ["SN", "BSN"], "scale": [1.0, 1.6], "run": range(3)}]'
    )
    task = load_task(task_dir)
    runs = {(r.config.sn_mode, r.config.scale, r.config.run): r.run_dir for r in task.runs}
    for key, rows in ROWS.items():
        write_metrics(runs[key], rows)
    for key in [
        ("SN", 1.0, 0),
        ("SN", 1.0, 1),
        ("SN", 1.0, 2),
        ("BSN", 1.0, 0),
        ("BSN", 1.0, 1),
        ("SN", 1.6, 0),
        ("SN", 1.6, 1),
        ("BSN", 1.6, 0),
    ]:
        open(os.path.join(runs[key], "COMPLETED"), "w").close()
    write_scalars(runs[("SN", 1.0, 0)], SN_TAGS)
    write_scalars(runs[("SN", 1.0, 1)], SN_TAGS)
    write_scalars(runs[("BSN", 1.0, 0)], BSN_TAGS)
    write_scalars(runs[("BSN", 1.0, 1)], {"loss/d": lambda s: 1.0})
    write_scalars(runs[("SN", 1.6, 0)], {"loss/d": lambda s: math.nan if s >= 250 else 1.0})
    write_scalars(runs[("SN", 1.6, 1)], {"loss/g": lambda s: 2.0})
    write_scalars(runs[("BSN", 1.6, 0)], {"loss/g": lambda s: 2.0})
    # crashed: one good row and a truncated last line, a traceback in worker.log
    crashed = runs[("BSN", 1.0, 2)]
    write_metrics(crashed, [(5.0, 0.1, 33.0)], tail="199,5.1,0.2,3")
    write_scalars(crashed, {"loss/d": lambda s: 1.0})
    with open(os.path.join(crashed, "worker.log"), "w") as f:
        f.write("old session\nValueError: an earlier failure\n" + TRACEBACK)
    # interrupted: empty metrics.csv, no event files
    stopped = runs[("BSN", 1.6, 2)]
    os.makedirs(stopped)
    open(os.path.join(stopped, "metrics.csv"), "w").close()
    with open(os.path.join(stopped, "worker.log"), "w") as f:
        f.write(STOPPED)
    # running: the scheduler's lock is held
    running = runs[("SN", 1.6, 2)]
    fd = os.open(os.path.join(running, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    # ("BSN", 1.6, 1) is not started: no folder
    yield task_dir, runs, task.results_root
    os.close(fd)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def summary_row(rows, sn_mode, scale, metric):
    [row] = [
        r
        for r in rows
        if r["sn_mode"] == sn_mode and float(r["scale"]) == scale and r["metric"] == metric
    ]
    return row


def test_tables_numbers_are_exact(sweep):
    task_dir, _, results = sweep
    summary = write_report(task_dir)
    assert summary.report_dir == os.path.join(results, "report")
    rows = read_csv(os.path.join(results, "report", "summary.csv"))
    assert list(rows[0])[:4] == ["sn_mode", "scale", "variant", "metric"]
    assert len(rows) == 4 * 3

    def check(row, runs, completed, with_data, final, best, iters, final_n=None, best_n=None):
        assert int(row["runs"]) == runs and int(row["completed"]) == completed
        assert int(row["with_data"]) == with_data
        assert int(row["final_n"]) == (len(final) if final_n is None else final_n)
        assert int(row["best_n"]) == (len(best) if best_n is None else best_n)
        for name, values in (("final", final), ("best", best)):
            mean, std = float(row[f"{name}_mean"]), float(row[f"{name}_std"])
            assert mean == pytest.approx(np.mean(values), rel=1e-12, abs=1e-12)
            assert std == pytest.approx(np.std(values), rel=1e-12, abs=1e-12)  # ddof 0
        assert (int(row["final_iter_min"]), int(row["final_iter_max"])) == iters

    check(
        summary_row(rows, "SN", 1.0, "inception_score_mean"),
        3,
        3,
        3,
        [5.5, 6.5, 6.0],
        [6.0, 7.0, 6.0],
        (299, 299),
    )
    # the std column takes its value where the IS mean is best
    check(
        summary_row(rows, "SN", 1.0, "inception_score_std"),
        3,
        3,
        3,
        [0.3, 0.5, 0.6],
        [0.2, 0.4, 0.6],
        (299, 299),
    )
    check(
        summary_row(rows, "SN", 1.0, "fid"),
        3,
        3,
        3,
        [35.0, 25.0, 28.0],
        [30.0, 20.0, 28.0],
        (299, 299),
    )
    assert float(summary_row(rows, "SN", 1.0, "fid")["final_mean"]) == pytest.approx(88 / 3)
    assert float(
        summary_row(rows, "SN", 1.0, "inception_score_mean")["final_std"]
    ) == pytest.approx(math.sqrt(0.5 / 3))
    # runs of different lengths (299 and 199) and the crashed run's one complete row (99)
    check(
        summary_row(rows, "BSN", 1.0, "fid"),
        3,
        2,
        3,
        [18.0, 24.0, 33.0],
        [18.0, 24.0, 33.0],
        (99, 299),
    )
    # NaN final excluded from the final stats, kept for best; the running run counts
    check(
        summary_row(rows, "SN", 1.6, "fid"), 3, 2, 3, [120.0, 70.0], [55.0, 30.0, 70.0], (99, 299)
    )
    # one run with data: std 0 (population std)
    check(summary_row(rows, "BSN", 1.6, "fid"), 3, 1, 1, [31.0], [31.0], (299, 299))
    assert float(summary_row(rows, "BSN", 1.6, "fid")["final_std"]) == 0.0
    assert [r["direction"] for r in rows[:3]] == ["max", "at_best", "min"]
    assert summary.main_metric == "fid"
    assert summary.state_counts == {
        "completed": 8,
        "running": 1,
        "crashed": 1,
        "interrupted": 1,
        "not started": 1,
    }


def test_sample_std_with_ddof_1_is_empty_for_one_run(sweep):
    task_dir, _, results = sweep
    write_report(task_dir, options=ReportOptions(ddof=1))
    rows = read_csv(os.path.join(results, "report", "summary.csv"))
    row = summary_row(rows, "SN", 1.0, "fid")
    assert float(row["final_std"]) == pytest.approx(np.std([35.0, 25.0, 28.0], ddof=1))
    assert summary_row(rows, "BSN", 1.6, "fid")["final_std"] == ""
    assert mean_std([1.0], ddof=1)[0] == 1.0 and math.isnan(mean_std([1.0], ddof=1)[1])
    assert mean_std([1.0], ddof=0) == (1.0, 0.0)
    assert all(math.isnan(x) for x in mean_std([], ddof=0))


def test_failures_states_and_data_problems(sweep):
    task_dir, runs, results = sweep
    summary = write_report(task_dir)
    failures = read_csv(os.path.join(results, "report", "failures.csv"))
    by_kind = {}
    for f in failures:
        by_kind.setdefault(f["kind"], []).append(f)
    folder = {key: os.path.basename(path) for key, path in runs.items()}

    diverged = by_kind["diverged"]
    assert [(f["folder"], f["iteration"], f["detail"]) for f in diverged] == [
        (folder[("SN", 1.6, 0)], "250", "loss/d is not finite at iteration 250"),
        (
            folder[("SN", 1.6, 0)],
            "299",
            "metrics not finite at iteration 299: "
            "inception_score_mean=nan, inception_score_std=nan, fid=nan",
        ),
        (
            folder[("SN", 1.6, 1)],
            "299",
            "fid rose from its best 30 (iteration 99) to 120 (iteration 299)",
        ),
    ]
    [crashed] = by_kind["crashed"]
    assert crashed["folder"] == folder[("BSN", 1.0, 2)]
    assert crashed["detail"] == "RuntimeError: boom at iteration 150"
    assert crashed["variant"] == "sn_mode=BSN, scale=1.0" and crashed["run"] == "2"
    [stopped] = by_kind["interrupted"]
    assert stopped["folder"] == folder[("BSN", 1.6, 2)]
    [running] = by_kind["running"]
    assert running["folder"] == folder[("SN", 1.6, 2)]
    [new] = by_kind["not started"]
    assert new["folder"] == folder[("BSN", 1.6, 1)]
    data = {(f["folder"], f["detail"]) for f in by_kind["data"]}
    assert data == {
        (folder[("BSN", 1.0, 2)], "metrics.csv: last line truncated (dropped): '199,5.1,0.2,3'"),
        (folder[("BSN", 1.6, 2)], "metrics.csv is empty"),
        (folder[("BSN", 1.6, 2)], "no event files (checkpoint/events.out.tfevents.*)"),
        (folder[("SN", 1.0, 2)], "no event files (checkpoint/events.out.tfevents.*)"),
    }
    assert summary.failure_counts == {
        "diverged": 2,
        "crashed": 1,
        "interrupted": 1,
        "running": 1,
        "not started": 1,
        "data": 3,
    }

    md = open(summary.markdown_path).read()
    assert "## Main metric: fid" in md
    assert "each run's last `metrics.csv` row" in md and "population std" in md
    assert "| sn_mode | scale | runs | completed | with data | final fid | best fid |" in md
    assert "| SN | 1.0 | 3 | 3 | 3 | 29.33 ± 4.19 | 26 ± 4.32 | 299 |" in md
    assert "| BSN | 1.0 | 3 | 2 | 3 | 25 ± 6.164 | 25 ± 6.164 | 99–299 |" in md
    assert "| SN | 1.6 | 3 | 2 | 3 | 95 ± 25 (n=2) | 51.67 ± 16.5 | 99–299 |" in md
    assert "RuntimeError: boom at iteration 150" in md
    assert "2 diverged" in md and "1 not started" in md

    text = summary_text(summary)
    assert "| SN | 1.0 | 3 | 3 | 3 | 29.33 ± 4.19 |" in text
    assert "2 diverged, 1 crashed, 1 interrupted, 1 running, 1 not started" in text
    assert summary.markdown_path in text


def test_figures_are_written_and_absent_data_gives_none(sweep):
    task_dir, _, results = sweep
    summary = write_report(task_dir)
    figures = os.path.join(results, "report", "figures")
    expected = {
        "metric-inception_score_mean.png",
        "metric-inception_score_std.png",
        "metric-fid.png",
        "scaling-fid.png",
        "diagnostics__sn_mode-SN,scale-1.0.png",
        "diagnostics__sn_mode-BSN,scale-1.0.png",
        "gammas__sn_mode-BSN,scale-1.0.png",
    }
    assert set(os.listdir(figures)) == expected
    assert sorted(summary.figures) == sorted(os.path.join(figures, n) for n in expected)
    for name in expected:
        with open(os.path.join(figures, name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(os.path.join(figures, name)) > 1000
    skipped = dict(summary.skipped_figures)
    assert "diagnostics__sn_mode-SN,scale-1.6.png" in skipped  # losses only
    assert "diagnostics__sn_mode-BSN,scale-1.6.png" in skipped  # no events
    md = open(summary.markdown_path).read()
    assert "![metric-fid.png](figures/metric-fid.png)" in md
    # the events were cached; a second report reads the cache and gives the same tables
    assert os.listdir(os.path.join(results, "report", "cache"))
    before = open(os.path.join(results, "report", "summary.csv")).read()
    write_report(task_dir)
    assert open(os.path.join(results, "report", "summary.csv")).read() == before
    assert set(os.listdir(figures)) == expected


def test_event_files_parsed_in_worker_processes_give_the_same_report(sweep, tmp_path):
    task_dir, _, results = sweep
    write_report(task_dir, options=ReportOptions(cache=False))
    sequential = open(os.path.join(results, "report", "summary.csv")).read()
    cache = os.path.join(results, "report", "cache")
    assert not os.path.exists(cache)
    task = load_task(task_dir)
    assert report.warm_event_cache(task.runs, cache, ReportOptions(workers=2)) == 8
    assert len(os.listdir(cache)) == 8
    assert report.warm_event_cache(task.runs, cache, ReportOptions(workers=2)) == 0  # cached
    write_report(task_dir)
    assert open(os.path.join(results, "report", "summary.csv")).read() == sequential


def test_task_without_scale_or_events_and_task_without_runs(tmp_path):
    task_dir = write_task(
        tmp_path, '[{"sn_mode": ["BSN"], "run": range(2)}]', global_extra='"metrics": ["swd"],'
    )
    task = load_task(task_dir)
    write_metrics(task.runs[0].run_dir, [(0.5,), (0.25,)], header="global_id,swd")
    write_metrics(task.runs[1].run_dir, [(0.75,), (0.5,), (0.125,)], header="global_id,swd")
    for run in task.runs:
        open(os.path.join(run.run_dir, "COMPLETED"), "w").close()
    summary = write_report(task_dir)
    assert summary.main_metric == "swd"
    assert [os.path.basename(p) for p in summary.figures] == ["metric-swd.png"]
    skipped = dict(summary.skipped_figures)
    assert skipped["scaling-*.png"] == "scale is not a variant key"
    assert "gammas__*.png" in skipped and "diagnostics__all_runs.png" in skipped
    [row] = read_csv(summary.summary_csv_path)
    assert row["variant"] == "all runs" and row["direction"] == "min"
    assert float(row["final_mean"]) == pytest.approx((0.25 + 0.125) / 2)
    assert float(row["best_mean"]) == pytest.approx((0.25 + 0.125) / 2)
    assert (row["final_iter_min"], row["final_iter_max"]) == ("199", "299")

    # a task none of whose runs started: a report without figures, no crash
    empty = tmp_path / "empty"
    empty.mkdir()
    empty_task = write_task(empty, '[{"sn_mode": ["SN", "BSN"], "scale": [1.0, 2.0]}]')
    summary = write_report(empty_task)
    assert summary.figures == [] and summary.main_metric is None
    assert summary.state_counts["not started"] == 4
    assert "No run has metric data yet." in open(summary.markdown_path).read()
    assert len(read_csv(summary.summary_csv_path)) == 4
    assert "No metric data yet." in summary_text(summary)


def test_fid_rise_thresholds_and_crash_details_from_the_scheduler_log(sweep):
    task_dir, runs, results = sweep
    # a crash without an error line, and the scheduler's verdict on it
    killed = runs[("BSN", 1.6, 0)]
    os.remove(os.path.join(killed, "COMPLETED"))
    with open(os.path.join(killed, "worker.log"), "w") as f:
        f.write(
            "===== 2026-01-01 scheduler resumes this run on CUDA_VISIBLE_DEVICES='0' =====\n"
            "I0101 10:00:01 trainer.py:1] iter 120/300\n"
        )
    with open(os.path.join(results, "scheduler.log"), "w") as f:
        name = os.path.basename(killed)
        f.write(
            f"2026-01-01 10:00:00 ERROR gpu0 crashed on {name} with exit code 1; see x\n"
            f"2026-01-01 10:05:00 ERROR gpu0 crashed on {name} with killed by signal 9; "
            "see x\n"
        )
    summary = write_report(task_dir, options=ReportOptions(fid_ratio=5.0))
    crashed = {f.folder: f.detail for f in summary.failures if f.kind == "crashed"}
    assert crashed[os.path.basename(killed)] == (
        "no error in worker.log; its last line: I0101 10:00:01 trainer.py:1] iter 120/300 "
        "(scheduler: killed by signal 9)"
    )
    # 120 is not above 5 x 30: only the NaN run counts as diverged
    assert summary.failure_counts["diverged"] == 1
    summary = write_report(task_dir, options=ReportOptions(fid_margin=100.0))
    assert summary.failure_counts["diverged"] == 1  # 120 is not above 30 + 100


def test_metrics_from_events_when_csv_missing(tmp_path):
    task_dir = write_task(tmp_path, '[{"run": range(1)}]', global_extra='"metrics": ["fid"],')
    run = load_task(task_dir).runs[0]
    writer = tf.summary.create_file_writer(os.path.join(run.run_dir, "checkpoint"))
    with writer.as_default():
        for step, value in ((99, 40.0), (199, 30.0), (299, 32.0)):
            tf.summary.scalar("metric/fid", value, step=step)
    writer.close()
    open(os.path.join(run.run_dir, "COMPLETED"), "w").close()
    summary = write_report(task_dir)
    [row] = read_csv(summary.summary_csv_path)
    assert (float(row["final_mean"]), float(row["best_mean"])) == (32.0, 30.0)
    problems = {f.detail for f in summary.failures if f.kind == "data"}
    assert problems == {"metrics.csv missing", "metrics taken from the metric/* event scalars"}


def test_read_metrics_csv_edge_cases(tmp_path):
    path = tmp_path / "metrics.csv"
    assert read_metrics_csv(str(path)) == ({}, ["metrics.csv missing"])
    path.write_text("global_id,fid\n")
    assert read_metrics_csv(str(path)) == ({}, ["metrics.csv has no data rows"])
    path.write_text("global_id,f")
    assert read_metrics_csv(str(path)) == ({}, ["metrics.csv has only a partial header"])
    path.write_text("global_id,a,b\n9,1.5,\n19,2.5,7\n19,3.5,8\nbad,1,2\n29,1\n39,nan,inf\n")
    series, issues = read_metrics_csv(str(path))
    assert issues == ["metrics.csv: 2 malformed rows dropped"]
    np.testing.assert_array_equal(series["a"].steps, [9, 19, 39])
    np.testing.assert_array_equal(series["a"].values, [1.5, 3.5, np.nan])  # last 19 row kept
    np.testing.assert_array_equal(series["b"].steps, [19, 39])  # empty cell skipped
    assert series["b"].values[1] == np.inf


def test_directions_and_main_metric():
    cols = [
        "inception_score_mean",
        "inception_score_std",
        "fid",
        "kid",
        "swd",
        "shapes_fid",
        "precision",
        "mystery",
        "mystery_std",
    ]
    got = {c: metric_direction(c, cols) for c in cols}
    assert got == {
        "inception_score_mean": "max",
        "inception_score_std": "at_best",
        "fid": "min",
        "kid": "min",
        "swd": "min",
        "shapes_fid": "min",
        "precision": "max",
        "mystery": "",
        "mystery_std": "",
    }
    options = ReportOptions(higher_is_better=("mystery",))
    assert metric_direction("mystery", cols, options) == "max"
    assert pick_main_metric(cols) == "fid"
    assert pick_main_metric(["swd", "shapes_fid", "shapes_kid"]) == "shapes_fid"
    assert pick_main_metric(["inception_score_mean", "kid"]) == "kid"
    assert pick_main_metric(["mystery"]) == "mystery" and pick_main_metric([]) is None


def _raw_event_file(path, events):
    """An event file of simple_value scalars (the TF1 form), written record by record."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    with tf.io.TFRecordWriter(path) as w:
        w.write(
            event_pb2.Event(
                wall_time=events[0][0], file_version="brain.Event:2"
            ).SerializeToString()
        )
        for wall, step, tag, value in events:
            summary = summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]
            )
            w.write(event_pb2.Event(wall_time=wall, step=step, summary=summary).SerializeToString())


def test_event_scalars_simple_values_resume_orphans_sampling_and_corruption(tmp_path):
    first = str(tmp_path / "events.out.tfevents.1.host.1.0.v2")
    second = str(tmp_path / "events.out.tfevents.2.host.2.0.v2")
    # first process logged steps 0..9 then died; the resumed one restarts at step 5
    _raw_event_file(
        first,
        [(100.0 + s, s, "loss/d", float(s)) for s in range(10)]
        + [(100.0, 7, "loss/g", float("nan"))],
    )
    _raw_event_file(second, [(200.0 + s, s, "loss/d", 10.0 * s) for s in range(5, 12)])
    series, bad, issues = read_event_scalars([second, first])
    np.testing.assert_array_equal(series["loss/d"].steps, np.arange(12))
    np.testing.assert_array_equal(
        series["loss/d"].values, [0, 1, 2, 3, 4, 50, 60, 70, 80, 90, 100, 110]
    )
    assert bad == {} and issues == [] and "loss/g" not in series  # orphaned NaN dropped
    # steps with (s + 1) % 4 == 0 and each file's last value (9 in the first, purged)
    series, _, _ = read_event_scalars([first, second], keep_every=4)
    np.testing.assert_array_equal(series["loss/d"].steps, [3, 7, 11])
    np.testing.assert_array_equal(series["loss/d"].values, [3, 70, 110])
    # a non-finite loss is found on every step, also off the sampled ones
    series, bad, _ = read_event_scalars([first], keep_every=4)
    assert bad == {"loss/g": 7}
    # a corrupt file is reported; a truncated one keeps its complete records
    garbage = tmp_path / "events.out.tfevents.3.host.3.0.v2"
    garbage.write_bytes(b"not a record" * 10)
    data = open(first, "rb").read()
    cut = tmp_path / "events.out.tfevents.0.host.4.0.v2"
    cut.write_bytes(data[: len(data) // 2])
    series, _, issues = read_event_scalars([str(garbage)])
    assert series == {} and len(issues) == 1 and "unreadable after 0 events" in issues[0]
    series, _, issues = read_event_scalars([str(cut)])
    assert issues == [] and 0 < series["loss/d"].steps.size < 10


def test_series_from_pairs_sorts():
    s = Series.from_pairs({3: 1.0, 1: 2.0})
    np.testing.assert_array_equal(s.steps, [1, 3])
    np.testing.assert_array_equal(s.values, [2.0, 1.0])


def test_cli_report_and_report_after_training(sweep, capsys, monkeypatch):
    task_dir, _, results = sweep
    assert main.run_cli(["main.py", "report", task_dir]) == 0
    out = capsys.readouterr().out
    assert "Main metric fid" in out and "| SN | 1.0 | 3 | 3 | 3 | 29.33 ± 4.19 |" in out
    assert f"Report written to {os.path.join(results, 'report', 'report.md')}" in out
    for name in ("report.md", "summary.csv", "failures.csv"):
        assert os.path.getsize(os.path.join(results, "report", name)) > 0
    # --only selects runs; flags that train are refused
    assert main.run_cli(["main.py", "report", task_dir, "--only", "sn_mode=SN"]) == 0
    assert "Report of task: 6 runs" in capsys.readouterr().out
    assert main.run_cli(["main.py", "report", task_dir, "--dry_run"]) == 2
    assert "not used by report" in capsys.readouterr().err
    assert main.run_cli(["main.py", "report", task_dir, "extra"]) == 2

    # after a scheduler run, the summary is printed; a failing report is only a warning
    class FakeScheduler:
        def __init__(self, task, **kw):
            pass

        def start(self):
            return 0

    monkeypatch.setattr(commands, "Scheduler", FakeScheduler)
    assert main.run_cli(["main.py", task_dir]) == 0
    assert "Report written to" in capsys.readouterr().out

    def broken(*args, **kw):
        raise RuntimeError("no report today")

    monkeypatch.setattr(commands, "write_report", broken)
    warned = []
    monkeypatch.setattr(commands.logging, "warning", lambda *a: warned.append(a[0] % a[1:]))
    assert main.run_cli(["main.py", task_dir]) == 0
    assert warned and "no report today" in warned[0]


def test_dataset_split_figures_and_hidden_keys(tmp_path):
    task_dir = write_task(
        tmp_path,
        '[{"dataset": ["cifar10"], "mg": [4], "sn_mode": ["SN", '
        '"BSN"], "scale": [1.0, 2.0]}, {"dataset": ["stl10"], '
        '"mg": [6], "sn_mode": ["SN"], "scale": [1.0, 2.0]}]',
        global_extra='"metrics": ["fid"],',
    )
    task = load_task(task_dir)
    for i, run in enumerate(task.runs):
        write_metrics(run.run_dir, [(50.0 - i,), (40.0 - i,)], header="global_id,fid")
        open(os.path.join(run.run_dir, "COMPLETED"), "w").close()
    summary = write_report(task_dir)
    assert sorted(os.path.basename(p) for p in summary.figures) == [
        "metric-fid__dataset-cifar10.png",
        "metric-fid__dataset-stl10.png",
        "scaling-fid__dataset-cifar10.png",
        "scaling-fid__dataset-stl10.png",
    ]
    md = open(summary.markdown_path).read()
    assert "Also varying, but following from the shown keys: mg." in md
    assert "| dataset | sn_mode | scale | runs |" in md
    rows = read_csv(summary.summary_csv_path)
    assert list(rows[0])[:5] == ["dataset", "sn_mode", "scale", "mg", "variant"]
    assert [float(r["final_mean"]) for r in rows] == [40.0, 39.0, 38.0, 37.0, 36.0, 35.0]


def test_folder_with_only_a_free_lock_is_not_started(tmp_path):
    task_dir = write_task(tmp_path, '[{"run": range(1)}]')
    run = load_task(task_dir).runs[0]
    os.makedirs(run.run_dir)
    open(os.path.join(run.run_dir, ".lock"), "w").close()
    assert report.run_folder_state(run, "worker.log") == ("not started", None)
    open(os.path.join(run.run_dir, "config.json"), "w").close()
    assert report.run_folder_state(run, "worker.log") == ("crashed", "no worker.log")


def _status_task(tmp_path, runs=3):
    task_dir = write_task(
        tmp_path, f'[{{"run": range({runs})}}]', global_extra='"metrics": ["fid"],'
    )
    task = load_task(task_dir)
    for run in task.runs:
        write_metrics(run.run_dir, [(40.0,)], header="global_id,fid")
        with open(os.path.join(run.run_dir, "config.json"), "w") as f:
            f.write("{}\n")
    return task_dir, task


@pytest.mark.parametrize(
    "stop_line",
    [
        "W0101 10:00:02 trainer.py:1] stop requested: saved checkpoint at iteration 149",
        "W0101 10:00:02 trainer.py:1] stopping on request; checkpoint written at iteration 149",
    ],
)
def test_reworded_log_lines_do_not_change_a_state_given_by_status_json(tmp_path, stop_line):
    task_dir, task = _status_task(tmp_path)
    stopped, crashed, killed = (r.run_dir for r in task.runs)
    log = (
        "===== 2026-01-01 10:00:00 scheduler starts this run on CUDA_VISIBLE_DEVICES='0' "
        f"=====\n{stop_line}\n"
    )
    for run_dir in (stopped, crashed, killed):
        with open(os.path.join(run_dir, "worker.log"), "w") as f:
            f.write(log)
    write_status(stopped, RunStatus(INTERRUPTED, iteration=150, total=300, exit_code=75))
    write_status(
        crashed,
        RunStatus(CRASHED, exit_code=1, iteration=150, total=300, error="RuntimeError: boom"),
    )
    write_status(killed, RunStatus(CRASHED, signal=9))
    with open(os.path.join(task.results_root, "scheduler.log"), "w") as f:
        # whatever the scheduler's wording, status.json is what counts
        f.write(
            f"ERROR gpu0 gave up on {os.path.basename(killed)}: signal 9\n"
            f"ERROR gpu0 crashed on {os.path.basename(stopped)} with exit code 1; see x\n"
        )
    summary = write_report(task_dir)
    assert summary.state_counts == {
        "completed": 0,
        "running": 0,
        "crashed": 2,
        "interrupted": 1,
        "not started": 0,
    }
    details = {f.folder: f.detail for f in summary.failures if f.kind == "crashed"}
    assert details == {
        os.path.basename(crashed): "RuntimeError: boom (exit code 1, at iteration 150 of 300)",
        os.path.basename(killed): "status.json gives no error message (killed by signal 9)",
    }
    [interrupted] = [f for f in summary.failures if f.kind == "interrupted"]
    assert interrupted.folder == os.path.basename(stopped)


def test_legacy_folder_without_status_json_still_reads_the_worker_log(tmp_path):
    task_dir, task = _status_task(tmp_path, runs=1)
    run = task.runs[0]
    with open(os.path.join(run.run_dir, "worker.log"), "w") as f:
        f.write(STOPPED)
    assert report.run_folder_state(run, "worker.log") == ("interrupted", None)
    # the same folder once status.json exists: the log's wording no longer matters
    write_status(run.run_dir, RunStatus(CRASHED, exit_code=1, error="OSError: disk full"))
    assert report.run_folder_state(run, "worker.log") == (
        "crashed",
        "OSError: disk full (exit code 1)",
    )


def test_failed_and_stale_running_states_from_status_json(tmp_path):
    task_dir, task = _status_task(tmp_path)
    failed, alive, dead = task.runs
    write_status(
        failed.run_dir, RunStatus(FAILED, exit_code=2, error="config.json: unknown metric 'fdi'")
    )
    update_status(alive.run_dir, **process_status(RUNNING))  # this process: alive, no lock
    write_status(dead.run_dir, RunStatus(RUNNING, pid=2**22 + 12345, host="elsewhere"))
    assert report.run_folder_state(alive, "worker.log") == ("running", None)
    state, detail = report.run_folder_state(dead, "worker.log")
    assert state == "crashed" and "still says running" in detail
    summary = write_report(task_dir)
    assert summary.state_counts == {
        "completed": 0,
        "running": 1,
        "crashed": 1,
        "failed": 1,
        "interrupted": 0,
        "not started": 0,
    }
    [f] = [f for f in summary.failures if f.kind == "failed"]
    assert f.detail == "config.json: unknown metric 'fdi' (exit code 2)"
    assert "1 failed" in summary_text(summary)


def test_evaluation_columns_appear_beside_the_training_ones(tmp_path):
    from gan.eval_csv import EvalCsv, setting_columns

    task_dir = write_task(tmp_path, '[{"run": range(1)}]', global_extra='"metrics": ["fid"],')
    run = load_task(task_dir).runs[0]
    write_metrics(run.run_dir, [(40.0,), (30.0,), (35.0,)], header="global_id,fid")
    open(os.path.join(run.run_dir, "COMPLETED"), "w").close()
    table = EvalCsv(os.path.join(run.run_dir, "eval", "metrics.csv"))
    own = dict.fromkeys(setting_columns(), "1")
    table.put(199, "model-199", own, {"fid": 31.0, "swd": 2.0})
    table.put(299, "model-299", own, {"fid": 36.0, "swd": 1.5})
    table.put(299, "model-299", {**own, "fid_num_samples": "50000"}, {"fid": 34.0})
    rows = read_csv(write_report(task_dir).summary_csv_path)
    by_metric = {row["metric"]: row for row in rows}
    assert set(by_metric) == {"fid", "eval_fid", "eval_swd"}
    assert float(by_metric["fid"]["final_mean"]) == 35.0  # training's own column unchanged
    # per checkpoint the evaluation written last; a distance's best is its minimum
    assert float(by_metric["eval_fid"]["final_mean"]) == 34.0
    assert float(by_metric["eval_fid"]["best_mean"]) == 31.0
    assert float(by_metric["eval_swd"]["final_mean"]) == 1.5


def test_report_md_links_the_rules_instead_of_restating_them(sweep):
    import re

    from gan.config import REPO_ROOT

    task_dir, _, _ = sweep
    summary = write_report(
        task_dir, options=ReportOptions(ddof=1, fid_ratio=3.0, higher_is_better=("acc",))
    )
    md = open(summary.markdown_path).read()
    rules = md.split("## Rules\n")[1].split("\n## ")[0]
    link = re.search(r"\[docs/report.md\]\(([^)]+)\)", rules).group(1)
    target = os.path.normpath(os.path.join(os.path.dirname(summary.markdown_path), link))
    assert target == os.path.join(REPO_ROOT, "docs", "report.md")
    assert os.path.isfile(target)
    assert "ddof=1" in rules and "3 x best" in rules and "`acc` higher is better" in rules
    assert "**states**" not in rules  # the rules themselves are in docs/report.md only
