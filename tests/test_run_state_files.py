"""A run's own state files and inputs under faults (issue 24): a task config.py that exits, a
metrics.csv cut inside its header, a resume with changed metrics, a refused resume that must
not touch checkpoint/, and the --force_rerun log line of a task without test_config."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gan import run_folder as rf
from gan.config import REPO_ROOT

SMALL_RUN = dict(dataset="shapes", mg=4, iteration=2, batch_size=4, vis_freq=100, vis_num_h=1,
                 vis_num_w=2, metric_freq=1, save_checkpoint_freq=1, metrics=["swd"],
                 swd_num_samples=16, swd_patches_per_image=8, metric_batch_size=16,
                 time_freq=100, summary_freq=100, seed=3)


def _main(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, os.path.join(REPO_ROOT, "main.py"), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def _run(run_dir: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gan.run", "--run_dir", run_dir],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def _one_error_line(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == rf.EXIT_BAD_INPUT, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------------------------------
# 7. a config.py that exits or raises KeyboardInterrupt


@pytest.mark.parametrize("body,what", [("import sys\nsys.exit(3)\n", "SystemExit"),
                                       ("raise KeyboardInterrupt\n", "KeyboardInterrupt")])
def test_a_task_config_that_exits_is_one_error_line_naming_the_file(tmp_path, body, what):
    task = tmp_path / "task"
    task.mkdir()
    (task / "config.py").write_text(body)
    proc = _main(str(task), "--dry_run")
    _one_error_line(proc, str(task / "config.py"), what)
