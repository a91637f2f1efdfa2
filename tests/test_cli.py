"""The command table: each command's --help, the shared unused-flag check, a quiet console."""

import json
import os
import re
import subprocess
import sys

import pytest

from gan import cli
from tests.after_training import REPO, assert_one_error_line


def _help_flags(text: str) -> set[str]:
    return set(re.findall(r"^  --(\w+):", text, flags=re.MULTILINE))


@pytest.mark.parametrize("name", ["", *cli.COMMANDS])
def test_each_commands_help_shows_its_usage_and_only_its_own_flags(name, capsys):
    command = cli.COMMANDS.get(name, cli.TRAIN)
    assert cli.run_cli(["main.py", *([name] if name else []), "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {command.usage}\n")
    assert _help_flags(out) == set(cli.own_flags(command))


def test_help_through_main_py_is_the_commands_own():
    proc = subprocess.run(
        [sys.executable, "main.py", "fid_stats", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python main.py fid_stats --dataset NAME")
    assert _help_flags(proc.stdout) == {
        "num",
        "seed",
        "out",
        "overwrite",
        "inception_graph",
        "dataset",
        "data_root",
        "tf_log",
    }


def test_a_flag_the_command_does_not_read_is_refused(tmp_path, capsys):
    from tests.test_scheduler import write_task

    task = write_task(tmp_path)
    assert_one_error_line(
        capsys,
        cli.run_cli(["main.py", task, "--checkpoint", "3"]),
        "--checkpoint",
        "not used by training",
    )
    assert_one_error_line(
        capsys,
        cli.run_cli(["main.py", "fid_stats", "--dataset", "cifar10", "--gpu", "0"]),
        "--gpu",
        "not used by fid_stats",
    )
    # The flags another package defines (submit's Slurm flags) are checked the same way.
    assert_one_error_line(
        capsys,
        cli.run_cli(["main.py", task, "--partition", "gpu", "--dry_run"]),
        "--partition",
        "not used by training",
    )


def test_a_tensorflow_command_shows_only_its_own_lines(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"dataset": "shapes", "mg": 4, "iteration": 2}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    proc = subprocess.run(
        [sys.executable, "main.py", "export", str(run_dir), "--out", str(tmp_path / "out")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: {run_dir} has no checkpoints "
        "(checkpoint/model-N.index): the run has not saved one "
        "yet (see save_checkpoint_freq)"
    ], proc.stderr


def test_help_into_a_closed_pipe_ends_without_a_traceback():
    read, write = os.pipe()
    os.close(read)  # as `python main.py --help | head -0`: the reader is gone before any write
    try:
        proc = subprocess.run(
            [sys.executable, os.path.join(REPO, "main.py"), "fid_stats", "--help"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
    finally:
        os.close(write)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1
