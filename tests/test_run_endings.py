"""status.json after every way a run can end (issue 24 item 6): completed, SIGTERM, SIGTERM
during start-up (in the run and through the scheduler), kill -9 (the scheduler writes it), bad
input, a crash, an unwritable folder. Each states the state, the last completed iteration and
the latest checkpoint (``checkpoint``: the iteration count it holds, ``model-<checkpoint - 1>``).
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from gan import run_folder as rf
from gan.config import REPO_ROOT
from gan.scheduler import Scheduler
from gan.tasks import load_task
from tests.test_scheduler import write_task

RUN = dict(
    dataset="shapes",
    mg=4,
    batch_size=4,
    network_width=0.25,
    vis_freq=100000,
    vis_num_h=1,
    vis_num_w=2,
    metric_freq=100000,
    metrics=[],
    save_checkpoint_freq=2,
    time_freq=100000,
    summary_freq=100000,
    seed=3,
)
DEADLINE_S = 240  # a safety net only: every wait below ends on a file or a process


def _folder(tmp_path, **over) -> str:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / rf.CONFIG_FILE).write_text(json.dumps(dict(RUN, **over)))
    return str(run_dir)


def _start(run_dir: str) -> subprocess.Popen[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        [sys.executable, "-m", "gan.run", "--run_dir", run_dir],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_status(run_dir: str, ready, proc=None) -> rf.RunStatus:
    deadline = time.time() + DEADLINE_S
    while True:
        status = rf.read_status(run_dir)
        if status is not None and ready(status):
            return status
        assert proc is None or proc.poll() is None, proc.communicate()[0]
        assert time.time() < deadline, status
        time.sleep(0.02)


def _has_checkpoint(run_dir: str, count: int) -> bool:
    return os.path.isfile(os.path.join(run_dir, "checkpoint", f"model-{count - 1}.index"))


def _with_checkpoint_2(tmp_path, **over) -> str:
    """A run trained (in this process) to iteration 2, checkpoint model-1, not completed."""
    from gan.run import train_run

    run_dir = _folder(tmp_path, iteration=2)
    assert train_run(run_dir) == 0
    os.remove(os.path.join(run_dir, rf.COMPLETED_FILE))
    path = os.path.join(run_dir, rf.CONFIG_FILE)
    with open(path, "w") as f:
        json.dump(dict(RUN, iteration=6, **over), f)
    return run_dir


def test_completed(tmp_path):
    run_dir = _folder(tmp_path, iteration=4)
    proc = _start(run_dir)
    out = proc.communicate(timeout=DEADLINE_S)[0]
    assert proc.returncode == 0, out
    status = rf.read_status(run_dir)
    assert (status.state, status.exit_code) == (rf.COMPLETED, 0)
    assert status.iteration == status.total == status.checkpoint == 4
    assert _has_checkpoint(run_dir, 4)


def test_sigterm_mid_run(tmp_path):
    run_dir = _folder(tmp_path, iteration=100000, save_checkpoint_freq=100000)
    proc = _start(run_dir)
    seen = _wait_status(run_dir, lambda s: (s.iteration or 0) >= 1, proc).iteration
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=DEADLINE_S)[0]
    assert proc.returncode == rf.EXIT_INTERRUPTED, out
    status = rf.read_status(run_dir)
    assert (status.state, status.exit_code) == (rf.INTERRUPTED, rf.EXIT_INTERRUPTED)
    assert status.iteration == status.checkpoint >= seen
    assert _has_checkpoint(run_dir, status.checkpoint)


def test_sigterm_during_start_up(tmp_path):
    run_dir = _with_checkpoint_2(tmp_path)
    proc = _start(run_dir)
    # status.json says running before TensorFlow is even imported
    _wait_status(run_dir, lambda s: s.state == rf.RUNNING and s.pid == proc.pid, proc)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=DEADLINE_S)[0]
    assert proc.returncode == rf.EXIT_INTERRUPTED, out
    assert "during start-up" in out
    status = rf.read_status(run_dir)
    assert (status.state, status.exit_code, status.signal) == (
        rf.INTERRUPTED,
        rf.EXIT_INTERRUPTED,
        None,
    )
    assert status.iteration == status.checkpoint == 2


# Dies of SIGTERM (no handler), as a run process does before Python installed its own.
UNHANDLED_RUN = textwrap.dedent(f"""
    import os, sys, time
    sys.path.insert(0, {REPO_ROOT!r})
    from gan import run_folder as rf
    run_dir = sys.argv[sys.argv.index("--run_dir") + 1]
    rf.update_status(run_dir, **rf.process_status(rf.RUNNING, iteration=9, checkpoint=6))
    open(os.path.join(run_dir, "started"), "w").close()
    time.sleep(60)
""")


def _scheduler_task(tmp_path, **global_config):
    cfg = dict(RUN, iteration=100000, **global_config)
    return load_task(
        write_task(
            tmp_path,
            scheduler={"gpu": ["0"], "result_root_folder": "res"},
            global_config=cfg,
            test_config=[{"run": [0]}],
        )
    )


def _run_scheduler_until(task, command, ready, then):
    """Run the scheduler here; a thread calls ``then(scheduler)`` once ``ready()``."""
    console = io.StringIO()
    scheduler = Scheduler(task, command=command, handle_signals=False, console=console)

    def watch():
        deadline = time.time() + DEADLINE_S
        while not ready() and time.time() < deadline:
            time.sleep(0.02)
        then(scheduler)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    code = scheduler.start()
    thread.join()
    return code, console.getvalue()


def test_sigterm_during_start_up_through_the_scheduler(tmp_path):
    task = _scheduler_task(tmp_path)
    run_dir = task.runs[0].run_dir
    script = tmp_path / "unhandled.py"
    script.write_text(UNHANDLED_RUN)
    code, console = _run_scheduler_until(
        task,
        [sys.executable, str(script)],
        lambda: os.path.exists(os.path.join(run_dir, "started")),
        lambda scheduler: scheduler.stop(signal.SIGTERM),
    )
    assert code == 128 + signal.SIGTERM, console
    assert " interrupted " in console and "crashed" not in console
    status = rf.read_status(run_dir)
    assert (status.state, status.signal) == (rf.INTERRUPTED, signal.SIGTERM)
    assert status.iteration == status.checkpoint == 6  # what the next start resumes from


def test_kill_9_is_recorded_by_the_scheduler(tmp_path):
    task = _scheduler_task(tmp_path)
    run_dir = task.runs[0].run_dir
    seen = {}

    def checkpointed():
        status = rf.read_status(run_dir)
        seen["status"] = status
        return status is not None and status.checkpoint is not None

    def kill(_scheduler):
        os.kill(seen["status"].pid, signal.SIGKILL)

    code, console = _run_scheduler_until(task, None, checkpointed, kill)
    assert code == rf.EXIT_CRASHED and "killed by signal 9" in console, console
    status = rf.read_status(run_dir)
    assert (status.state, status.signal) == (rf.CRASHED, signal.SIGKILL)
    assert status.checkpoint >= 2 and _has_checkpoint(run_dir, status.checkpoint)
    assert status.iteration >= status.checkpoint


def test_bad_input(tmp_path, capsys):
    from gan.run import execute

    run_dir = _with_checkpoint_2(tmp_path, network_width=0.5)  # the shapes no longer fit
    assert execute(run_dir) == rf.EXIT_BAD_INPUT
    assert "cannot resume from this checkpoint" in capsys.readouterr().err
    status = rf.read_status(run_dir)
    assert (status.state, status.exit_code) == (rf.FAILED, rf.EXIT_BAD_INPUT)
    assert status.iteration == status.checkpoint == 2


def test_crash(tmp_path, monkeypatch):
    from gan.run import execute
    from gan.trainer import Trainer

    run_dir = _with_checkpoint_2(tmp_path)
    save = Trainer.save

    def failing_save(self, global_id):
        if global_id == 5:
            raise RuntimeError("disk on fire")
        return save(self, global_id)

    monkeypatch.setattr(Trainer, "save", failing_save)
    with pytest.raises(RuntimeError, match="disk on fire"):
        execute(run_dir)
    status = rf.read_status(run_dir)
    assert (status.state, status.exit_code) == (rf.CRASHED, rf.EXIT_CRASHED)
    assert "RuntimeError: disk on fire" in status.error
    assert (status.iteration, status.checkpoint) == (6, 4)  # iteration 5 ran, model-3 saved


def test_unwritable_folder_is_crashed_for_the_scheduler_and_the_report(tmp_path, monkeypatch):
    import gan.unreported_endings as endings
    from gan.report.states import run_folder_state

    task = _scheduler_task(tmp_path)
    run = task.runs[0]
    os.makedirs(run.run_dir)
    rf.update_status(
        run.run_dir, rf.INTERRUPTED, exit_code=rf.EXIT_INTERRUPTED, iteration=6, checkpoint=6
    )
    lock = os.path.join(run.run_dir, rf.LOCK_FILE)
    real_open, real_access = os.open, os.access

    def read_only(*args, **kwargs):  # a read-only mount, simulated (tests run as root)
        raise OSError(errno.EROFS, "Read-only file system", str(args[0]) if args else "")

    monkeypatch.setattr(
        os,
        "open",
        lambda path, *a, **kw: (
            read_only(path) if os.fspath(path) == lock else real_open(path, *a, **kw)
        ),
    )
    monkeypatch.setattr(endings, "update_status", read_only)
    monkeypatch.setattr(endings, "write_status_in_place", read_only)
    code, console = _run_scheduler_until(task, ["true"], lambda: True, lambda s: None)
    assert code == rf.EXIT_CRASHED and "crashed on" in console
    assert "Read-only file system" in console
    assert rf.read_status(run.run_dir).state == rf.INTERRUPTED  # nobody could rewrite it

    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode, **kw: (
            False
            if os.fspath(path) == run.run_dir and mode & os.W_OK
            else real_access(path, mode, **kw)
        ),
    )
    state, detail = run_folder_state(run, "worker.log")
    assert state == rf.CRASHED and "cannot be written" in detail


# ---------------------------------------------------------------------------------------------
# one ending for every user error (issue 33 item 4, issue 34 item 4)


def test_a_report_that_cannot_be_written_is_one_error_line_and_exit_2(tmp_path, capsys):
    from gan import commands
    from tests.after_training import assert_one_error_line, cli

    task = load_task(write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0]}]))

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(commands, "write_report", full_disk)
        code = cli("report", task.task_dir)
    report_dir = os.path.join(task.results_root, "report")
    assert_one_error_line(capsys, code, report_dir, "cannot write the report", "No space left")


@pytest.mark.parametrize(
    "word,meant", [("smaple", "sample"), ("evalute", "evaluate"), ("stauts", "status")]
)
def test_a_mistyped_command_word_names_the_command_meant(capsys, word, meant):
    from tests.after_training import assert_one_error_line, cli

    code = cli(word, "some_run", "--num", "4")
    line = assert_one_error_line(capsys, code)
    assert line == f"error: unknown command {word!r}; did you mean {meant!r}?"


def test_a_task_folder_named_like_a_command_is_still_a_task(tmp_path, monkeypatch, capsys):
    from tests.after_training import cli

    write_task(tmp_path, name="smaple", test_config=[{"dataset": ["cifar10"], "run": [0]}])
    monkeypatch.chdir(tmp_path)
    assert cli("smaple", "--dry_run") == 0
    assert "unknown command" not in capsys.readouterr().err


def test_status_of_a_missing_results_folder_says_it_does_not_exist(tmp_path, capsys):
    from tests.after_training import cli

    task_dir = write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0, 1]}])
    missing = tmp_path / "no_such_results"
    assert cli("status", task_dir, "--results_dir", str(missing)) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert str(missing) in first and "this folder does not exist" in first
