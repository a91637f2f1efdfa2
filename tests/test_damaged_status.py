"""A damaged ``status.json`` (issue 34 item 3): empty, cut, not JSON, valid JSON that is not an
object, a field of the wrong kind. ``status``, the report and the scheduler read it as unknown
and fall back to the other evidence (the lock, the worker log, the checkpoints, metrics.csv);
the scheduler counts every run it was given."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import sys

import pytest

from gan import run_folder as rf
from gan.report.records import CRASHED, INTERRUPTED, RUNNING
from gan.report.states import run_folder_state
from gan.scheduler import Scheduler
from gan.tasks import load_task
from tests.after_training import cli
from tests.test_scheduler import FAKE_RUN, write_task

DAMAGED = {
    "empty": "",
    "cut": '{\n  "checkpoint": 4,\n  "state": "runn',
    "not JSON": "\x00\x00\x00\x00",
    "a list": "[]",
    "null": "null",
    "a number": "7",
    "a non-numeric pid": json.dumps(
        {"state": "running", "pid": "12x", "host": socket.gethostname()}
    ),
    "a pid too large": json.dumps({"state": "running", "pid": 2**70, "host": "x"}),
    "a non-numeric iteration": json.dumps({"state": "crashed", "iteration": "five"}),
    "progress not an object": json.dumps({"state": "running", "progress": []}),
}
HEADER = "===== 2026-01-01 10:00:00 scheduler resumes this run on CUDA_VISIBLE_DEVICES='0' ====="
# The lines gan/trainer.py and gan/run.py print for a stop (absl's prefix as it writes it).
STOP_LINES = [
    "W0101 10:00:02.000000 140 trainer.py:508] stop requested: saved checkpoint at iteration 5",
    "W0101 10:00:02.000000 140 trainer.py:543] stop requested during the evaluation of "
    "iteration 5: saved its checkpoint; the evaluation (metrics) is redone on resume",
    "W0101 10:00:02.000000 140 run.py:200] signal 15 during start-up: stopping before training",
]


def _task(tmp_path, status_text: str, log: str):
    """A task of one run whose folder holds a config, checkpoint model-5, metrics.csv rows up to
    iteration 5, ``log`` as its worker.log and ``status_text`` as its status.json."""
    task = load_task(
        write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0]}]),
    )
    run_dir = task.runs[0].run_dir
    os.makedirs(os.path.join(run_dir, rf.CHECKPOINT_DIR))
    with open(os.path.join(run_dir, rf.CONFIG_FILE), "w") as f:
        f.write("{}\n")
    for name in ("model-3.index", "model-5.index"):
        open(os.path.join(run_dir, rf.CHECKPOINT_DIR, name), "w").close()
    with open(os.path.join(run_dir, rf.METRICS_FILE), "w") as f:
        f.write("global_id,fid\n1,40.0\n5,30.0\n")
    with open(os.path.join(run_dir, rf.WORKER_LOG), "w") as f:
        f.write(log)
    with open(os.path.join(run_dir, rf.STATUS_FILE), "w") as f:
        f.write(status_text)
    return task


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_damaged_status_json_reads_as_unknown(tmp_path, damage):
    (tmp_path / rf.STATUS_FILE).write_text(DAMAGED[damage])
    assert rf.read_status(str(tmp_path)) is None
    problem = rf.status_problem(str(tmp_path))
    assert problem is not None and problem.startswith(f"{rf.STATUS_FILE}: ")
    # the run process starts over it: a new status, not a crash
    status = rf.update_status(str(tmp_path), rf.RUNNING, total=8)
    assert rf.read_status(str(tmp_path)) == status and status.total == 8
    assert rf.status_problem(str(tmp_path)) is None


@pytest.mark.parametrize("stop_line", STOP_LINES)
@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_stopped_run_with_a_damaged_status_json_is_interrupted(tmp_path, damage, stop_line):
    task = _task(tmp_path, DAMAGED[damage], f"{HEADER}\n{stop_line}\n")
    state, detail = run_folder_state(task.runs[0], rf.WORKER_LOG)
    assert state == INTERRUPTED, detail
    assert detail.startswith(f"{rf.STATUS_FILE}: ") and "state from the other files" in detail
    assert "latest checkpoint model-5" in detail and "metrics.csv up to iteration 5" in detail


@pytest.mark.parametrize("damage", ["empty", "a list", "a non-numeric pid"])
def test_status_and_report_show_a_damaged_status_json_without_a_traceback(tmp_path, capsys, damage):
    crashed_log = f"{HEADER}\nTraceback (most recent call last):\nOSError: [Errno 28] No space\n"
    task = _task(tmp_path, DAMAGED[damage], crashed_log)
    assert cli("status", task.task_dir) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    assert re.search(r"^crashed +1$", out.out, re.M), out.out
    assert f"{rf.STATUS_FILE}: " in out.out and "No space" in out.out
    assert cli("report", task.task_dir) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "1 crashed" in out.out, out.out


def test_a_running_run_with_a_damaged_status_json_is_running_while_locked(tmp_path):
    task = _task(tmp_path, DAMAGED["a list"], f"{HEADER}\n")
    fd = rf.take_lock(task.runs[0].run_dir)
    try:
        assert run_folder_state(task.runs[0], rf.WORKER_LOG) == (RUNNING, None)
    finally:
        os.close(fd)
    assert run_folder_state(task.runs[0], rf.WORKER_LOG)[0] == CRASHED


def _final_counts(console: str) -> dict[str, int]:
    """The counts of the scheduler's final line."""
    (line,) = [x for x in console.splitlines() if "scheduler ends task" in x]
    line = line.replace("running elsewhere", "elsewhere")
    words = r"(done|failed|interrupted|elsewhere|not started) (\d+)"
    return {m.group(1): int(m.group(2)) for m in re.finditer(words, line)}


@pytest.mark.parametrize("mode,code", [("crash", 1), ("complete", 0)])
@pytest.mark.parametrize("damage", ["a list", "null", "a non-numeric pid", "cut"])
def test_the_scheduler_counts_a_run_whose_status_json_is_damaged(
    tmp_path, monkeypatch, damage, mode, code
):
    fake = tmp_path / "fake_run.py"
    fake.write_text(FAKE_RUN)
    task = load_task(write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0, 1]}]))
    for run in task.runs:
        os.makedirs(run.run_dir)
        with open(os.path.join(run.run_dir, rf.STATUS_FILE), "w") as f:
            f.write(DAMAGED[damage])
    monkeypatch.setenv("FAKE_MODE", mode)
    console = io.StringIO()
    scheduler = Scheduler(
        task, command=[sys.executable, str(fake)], handle_signals=False, console=console
    )
    assert scheduler.start() == code, console.getvalue()
    counts = _final_counts(console.getvalue())
    assert sum(counts.values()) == 2 and scheduler.counts["running"] == 0
    assert counts["failed" if code else "done"] == 2, console.getvalue()
    if code:  # the scheduler recorded the crash over the damaged file
        for run in task.runs:
            assert rf.read_status(run.run_dir).state == rf.CRASHED


def test_a_scheduler_error_after_a_run_started_is_counted_once(tmp_path, monkeypatch):
    fake = tmp_path / "fake_run.py"
    fake.write_text(FAKE_RUN)
    task = load_task(write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0, 1]}]))

    def broken(self, run, code):
        raise RuntimeError("the disk filled up")

    def also_broken(self, run, error):
        raise RuntimeError("and cannot record it")

    monkeypatch.setattr(Scheduler, "_record_unreported_end", broken)
    monkeypatch.setattr(Scheduler, "_record_crash", also_broken)
    console = io.StringIO()
    scheduler = Scheduler(
        task, command=[sys.executable, str(fake)], handle_signals=False, console=console
    )
    assert scheduler.start() == 1
    counts = _final_counts(console.getvalue())
    assert counts["failed"] == 2 and sum(counts.values()) == 2
    assert scheduler.counts["running"] == 0
    assert console.getvalue().count("in the scheduler: RuntimeError: the disk filled up") == 2
