"""Console progress of running runs (gan/progress.py), the trainer's status.json progress, and
the closing "where to look" lines."""

from __future__ import annotations

import io
import os
import sys
import textwrap

import tensorflow as tf

from gan.progress import (
    ConsoleProgress,
    TrainingProgress,
    format_duration,
    latest_sample_grid,
    progress_line,
    where_to_look,
)
from gan.run_folder import RUNNING, RunStatus, read_status, update_status, write_status
from gan.scheduler import Scheduler
from gan.tasks import load_task


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def running(
    run_dir, iteration: int, total: int = 300, rate: float = 2.5, eta: float = 1234.4, losses=None
) -> str:
    os.makedirs(run_dir, exist_ok=True)
    write_status(
        str(run_dir),
        RunStatus(
            state=RUNNING,
            iteration=iteration,
            total=total,
            progress={
                "it_per_s": rate,
                "eta_s": eta,
                "losses": {"loss/d": 1.25, "loss/g": -0.5} if losses is None else losses,
            },
        ),
    )
    return str(run_dir)


def test_progress_line_shows_iteration_speed_eta_and_losses():
    status = RunStatus(
        state=RUNNING,
        iteration=30,
        total=300,
        progress={"it_per_s": 2.5, "eta_s": 108.0, "losses": {"loss/d": 1.25, "loss/g": -0.5}},
    )
    assert progress_line("sn_mode-SN,", status) == (
        "sn_mode-SN,: iter 30/300 (10%)  2.50 it/s  ETA 0:01:48  loss/d=1.2500  loss/g=-0.5000"
    )
    assert progress_line("a", RunStatus(state=RUNNING, iteration=1, total=4)) == "a: iter 1/4 (25%)"
    assert progress_line("a", RunStatus(state=RUNNING, total=4)) is None
    assert format_duration(3725.6) == "1:02:06"


def test_non_tty_console_gets_a_line_per_run_at_most_every_period_and_only_when_it_moved(tmp_path):
    console, clock = io.StringIO(), Clock()
    a = running(tmp_path / "a", 10)
    b = running(tmp_path / "b", 3)
    progress = ConsoleProgress(console, tty=False, every_s=20.0, prefix="[task] ", clock=clock)
    progress.poll({"a": a, "b": b})
    lines = console.getvalue().splitlines()
    assert lines == [
        "[task] a: iter 10/300 (3%)  2.50 it/s  ETA 0:20:34  loss/d=1.2500  loss/g=-0.5000",
        "[task] b: iter 3/300 (1%)  2.50 it/s  ETA 0:20:34  loss/d=1.2500  loss/g=-0.5000",
    ]
    running(tmp_path / "a", 20)
    clock.now += 5
    progress.poll({"a": a, "b": b})  # too soon
    clock.now += 20
    progress.poll({"a": a, "b": b})  # a moved, b did not
    new = console.getvalue().splitlines()[2:]
    assert len(new) == 1 and new[0].startswith("[task] a: iter 20/300")
    assert "\r" not in console.getvalue() and "\x1b" not in console.getvalue()


def test_tty_console_redraws_the_block_in_place_and_clears_it_for_log_lines(tmp_path):
    console, clock = io.StringIO(), Clock()
    a = running(tmp_path / "a", 10)
    b = running(tmp_path / "b", 3)
    progress = ConsoleProgress(console, tty=True, refresh_s=1.0, clock=clock)
    progress.poll({"a": a, "b": b})
    first = console.getvalue()
    assert first.startswith("a: iter 10/300") and first.count("\n") == 1
    assert not first.endswith("\n")  # the cursor stays on the block
    running(tmp_path / "a", 11)
    clock.now += 0.5
    progress.poll({"a": a, "b": b})
    assert console.getvalue() == first  # within the refresh period
    clock.now += 1.0
    progress.poll({"a": a, "b": b})
    redraw = console.getvalue()[len(first) :]
    assert redraw.startswith("\r\x1b[1A\x1b[J")  # back to the block's first line, erase
    assert "a: iter 11/300" in redraw
    progress.clear()
    assert console.getvalue().endswith("\r\x1b[1A\x1b[J")
    progress.clear()  # nothing drawn: nothing written
    assert console.getvalue().endswith("\r\x1b[1A\x1b[J")


def test_a_console_without_isatty_or_a_missing_status_is_quiet(tmp_path):
    class Plain:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    plain = Plain()
    progress = ConsoleProgress(plain)
    assert not progress.tty
    progress.poll({"gone": str(tmp_path / "nothing")})
    assert plain.text == ""


def test_trainer_progress_writes_iteration_speed_eta_and_losses_to_status_json(tmp_path):
    run_dir = str(tmp_path)
    update_status(run_dir, RUNNING, total=50, pid=123)
    progress = TrainingProgress(0, 50, run_dir=run_dir, status_every_s=3600.0)
    progress.update(
        0, {"loss/d": tf.constant(1.5), "loss/g": tf.constant(0.25), "d/real": tf.constant(3.0)}
    )
    status = read_status(run_dir)
    assert status.state == RUNNING and status.pid == 123
    assert (status.iteration, status.total) == (1, 50)
    assert status.progress["losses"] == {"loss/d": 1.5, "loss/g": 0.25}
    assert status.progress["it_per_s"] > 0 and status.progress["eta_s"] >= 0
    progress.update(1, {"loss/g": tf.constant(0.5)})  # within status_every_s: not written
    assert read_status(run_dir).iteration == 1
    progress.update(49, {"loss/g": tf.constant(0.75)})  # the last iteration always is
    status = read_status(run_dir)
    assert status.iteration == 50 and status.progress["losses"] == {"loss/d": 1.5, "loss/g": 0.75}


def test_scheduler_prints_running_runs_progress_from_status_json(tmp_path):
    task_dir = tmp_path / "t"
    task_dir.mkdir()
    (task_dir / "config.py").write_text(
        textwrap.dedent("""
        config = {"scheduler_config": {"gpu": ["0"]},
                  "global_config": {"dataset": "shapes", "mg": 4, "iteration": 40},
                  "test_config": [{"sn_mode": ["SN"]}]}
    """)
    )
    fake = tmp_path / "fake_run.py"
    fake.write_text(
        textwrap.dedent("""
        import json, os, sys, time
        run_dir = sys.argv[sys.argv.index("--run_dir") + 1]
        with open(os.path.join(run_dir, "status.json.tmp"), "w") as f:
            json.dump({"state": "running", "iteration": 7, "total": 40, "progress": {
                "it_per_s": 3.5, "eta_s": 9.4, "losses": {"loss/g": 0.125}}}, f)
        os.replace(os.path.join(run_dir, "status.json.tmp"),
                   os.path.join(run_dir, "status.json"))
        # Running until the console has shown the progress (60 s at most, a safety net).
        deadline = time.monotonic() + 60
        while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
            time.sleep(0.01)
        open(os.path.join(run_dir, "COMPLETED"), "w").close()
    """)
    )
    shown = tmp_path / "shown"
    line = "[t] sn_mode-SN,: iter 7/40 (17%)  3.50 it/s  ETA 0:00:09  loss/g=0.1250\n"

    class Console(io.StringIO):
        """Tells the fake run (through the file ``shown``) when the progress line is out."""

        def write(self, text):
            written = super().write(text)
            if line in self.getvalue():
                shown.touch()
            return written

    task = load_task(str(task_dir), results_dir=str(tmp_path / "results"))
    console = Console()
    code = Scheduler(
        task, command=[sys.executable, str(fake), str(shown)], handle_signals=False, console=console
    ).start()
    assert code == 0, console.getvalue()
    assert line in console.getvalue()


def test_where_to_look_names_the_newest_grid_of_each_run_and_the_report(tmp_path):
    run = tmp_path / "run"
    (run / "sample").mkdir(parents=True)
    for n in (99, 199, 1099):
        (run / "sample" / f"global_id-{n}.png").write_bytes(b"")
    (run / "sample" / "global_id-2000.png.tmp").write_bytes(b"")
    assert latest_sample_grid(str(run)) == str(run / "sample" / "global_id-1099.png")
    assert latest_sample_grid(str(tmp_path / "none")) is None
    text = where_to_look(
        [("SN", str(run)), ("BSN", str(tmp_path / "none"))], str(tmp_path / "report")
    )
    assert text.splitlines() == [
        "Latest sample grid of each run:",
        f"  SN: {run / 'sample' / 'global_id-1099.png'}",
        "  BSN: (no sample grid yet)",
        f"Report (tables, curves, failures): {tmp_path / 'report'}",
    ]
