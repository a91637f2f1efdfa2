"""The run-folder contract: status.json round trips, and state changes clear old endings."""

import json
import os

from gan import run_folder as rf


def test_status_round_trips_and_a_new_state_clears_the_previous_ending(tmp_path):
    run_dir = str(tmp_path)
    assert rf.read_status(run_dir) is None
    rf.update_status(run_dir, **rf.process_status(rf.FAILED, exit_code=2, error="bad"))
    status = rf.read_status(run_dir)
    assert (status.state, status.exit_code, status.error, status.pid) == (
        rf.FAILED,
        2,
        "bad",
        os.getpid(),
    )
    rf.update_status(run_dir, rf.RUNNING, total=10)
    status = rf.read_status(run_dir)
    assert (status.state, status.exit_code, status.error, status.total) == (
        rf.RUNNING,
        None,
        None,
        10,
    )
    rf.update_status(run_dir, iteration=4)
    assert rf.read_status(run_dir).iteration == 4
    assert not [n for n in os.listdir(run_dir) if ".tmp." in n]


def test_unreadable_or_unknown_status_reads_as_none(tmp_path):
    path = tmp_path / rf.STATUS_FILE
    path.write_text("{not json")
    assert rf.read_status(str(tmp_path)) is None
    path.write_text(json.dumps({"state": "dancing"}))
    assert rf.read_status(str(tmp_path)) is None


def test_one_line_folds_and_cuts():
    assert rf.one_line("a\n  b\tc") == "a b c"
    assert len(rf.one_line("x" * 1000, limit=50)) == 50


def test_scheduler_records_a_run_killed_before_it_said_how_it_ended(tmp_path):
    import sys
    import textwrap

    from gan.config import REPO_ROOT
    from gan.scheduler import Scheduler
    from gan.tasks import load_task
    from tests.test_scheduler import write_task

    fake = tmp_path / "fake_run.py"
    fake.write_text(
        textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {REPO_ROOT!r})
        from gan import run_folder as rf
        run_dir = sys.argv[sys.argv.index("--run_dir") + 1]
        rf.update_status(run_dir, **rf.process_status(rf.RUNNING, total=3))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    )
    task = load_task(
        write_task(
            tmp_path,
            scheduler={"gpu": ["0"], "result_root_folder": "res"},
            test_config=[{"dataset": ["cifar10"], "run": [0]}],
        )
    )
    code = Scheduler(
        task,
        command=[sys.executable, str(fake)],
        handle_signals=False,
        console=open(os.devnull, "w"),
    ).start()
    assert code == rf.EXIT_CRASHED
    status = rf.read_status(task.runs[0].run_dir)
    assert (status.state, status.signal, status.exit_code) == (rf.CRASHED, 9, None)


def test_a_run_with_bad_input_records_its_one_line_error(tmp_path):
    import subprocess
    import sys

    from gan.config import REPO_ROOT

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / rf.CONFIG_FILE).write_text(json.dumps({"dataset": "cifar10", "sn_mode": "XN"}))
    proc = subprocess.run(
        [sys.executable, "-m", "gan.run", "--run_dir", str(run_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == rf.EXIT_BAD_INPUT, proc.stderr
    status = rf.read_status(str(run_dir))
    assert status.state == rf.FAILED and status.exit_code == rf.EXIT_BAD_INPUT
    assert "sn_mode" in status.error and "\n" not in status.error


def test_atomic_path_replaces_whole_or_not_at_all(tmp_path):
    import pytest

    path = str(tmp_path / "out")
    rf.write_atomic(path, "old")
    with pytest.raises(RuntimeError), rf.atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("disk full")
    assert open(path).read() == "old" and os.listdir(tmp_path) == ["out"]
    with rf.atomic_path(path) as tmp:  # a folder replaces the file
        os.makedirs(os.path.join(tmp, "a"))
    assert os.listdir(path) == ["a"] and os.listdir(tmp_path) == ["out"]
    rf.write_json_atomic(path, {"b": 1, "a": 2})  # and a file replaces the folder
    assert open(path).read() == '{\n  "a": 2,\n  "b": 1\n}\n'


def test_seed_json_is_drawn_once_and_read_back_also_in_the_old_format(tmp_path):
    import pytest

    from gan.config import ConfigError
    from tests.helpers import run_config

    config = run_config(seed=None)
    with pytest.raises(ConfigError, match="cannot read the run's seed"):
        rf.read_seed(config, str(tmp_path))
    seed = rf.run_seed(config, str(tmp_path))
    assert rf.run_seed(config, str(tmp_path)) == rf.read_seed(config, str(tmp_path)) == seed
    (tmp_path / rf.SEED_FILE).write_text('{"seed": 1234}')  # as main wrote it
    assert rf.run_seed(config, str(tmp_path)) == rf.read_seed(config, str(tmp_path)) == 1234
    assert rf.read_seed(run_config(seed=7), str(tmp_path)) == 7
