"""A run's own state files and inputs under faults (issue 24): a task config.py that exits, a
metrics.csv cut inside its header, a resume with changed metrics, a refused resume that must
not touch checkpoint/, and the --force_rerun log line of a task without test_config."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from gan import run_folder as rf
from gan.config import REPO_ROOT, ConfigError
from gan.scheduler import Scheduler
from gan.tasks import load_task, select_runs
from tests.test_scheduler import FAKE_RUN, read, run_scheduler, write_task

SMALL_RUN = dict(
    dataset="shapes",
    mg=4,
    iteration=2,
    batch_size=4,
    vis_freq=100,
    vis_num_h=1,
    vis_num_w=2,
    metric_freq=1,
    save_checkpoint_freq=1,
    metrics=["swd"],
    swd_num_samples=16,
    swd_patches_per_image=8,
    metric_batch_size=16,
    time_freq=100,
    summary_freq=100,
    seed=3,
)


def _main(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "main.py"), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _run(run_dir: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gan.run", "--run_dir", run_dir],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


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


@pytest.mark.parametrize(
    "body,what",
    [
        ("import sys\nsys.exit(3)\n", "SystemExit"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    ],
)
def test_a_task_config_that_exits_is_one_error_line_naming_the_file(tmp_path, body, what):
    task = tmp_path / "task"
    task.mkdir()
    (task / "config.py").write_text(body)
    proc = _main(str(task), "--dry_run")
    _one_error_line(proc, str(task / "config.py"), what)


# ---------------------------------------------------------------------------------------------
# 4, 5, 8. metrics.csv cut inside its header; a resume with changed metrics; a refused resume


def _trained(tmp_path, **over) -> str:
    """A run folder trained to its end (iteration 2, checkpoints and metrics rows at 0 and 1)."""
    from gan.run import train_run

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / rf.CONFIG_FILE).write_text(json.dumps(dict(SMALL_RUN, **over)))
    assert train_run(str(run_dir)) == 0
    os.remove(run_dir / rf.COMPLETED_FILE)
    return str(run_dir)


def _resume(run_dir: str, **over) -> int:
    """Resume with ``over`` changed in the config, proposed as the scheduler proposes it."""
    from gan.run import train_run

    with open(os.path.join(run_dir, rf.CONFIG_FILE)) as f:
        config = json.load(f)
    with open(os.path.join(run_dir, rf.PROPOSED_CONFIG_FILE), "w") as f:
        json.dump(dict(config, **over), f)
    return train_run(run_dir)


def _listing(run_dir: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file under ``run_dir`` but status.json and ``skip`` with the SHA-256 of its bytes."""
    out = {}
    for parent, _, names in os.walk(run_dir):
        for name in names:
            path = os.path.join(parent, name)
            if name not in (rf.STATUS_FILE, *skip):
                with open(path, "rb") as f:
                    out[os.path.relpath(path, run_dir)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_a_metrics_csv_cut_inside_its_header_is_dropped_like_a_cut_row(tmp_path):
    run_dir = _trained(tmp_path)
    path = os.path.join(run_dir, rf.METRICS_FILE)
    with open(path, "w") as f:
        f.write("global_id,s")  # a crash while the header was written
    assert _resume(run_dir, iteration=3) == 0
    # the accepted proposal became config.json
    assert not os.path.exists(os.path.join(run_dir, rf.PROPOSED_CONFIG_FILE))
    assert json.loads(read(os.path.join(run_dir, rf.CONFIG_FILE)))["iteration"] == 3
    with open(path) as f:
        assert [line.split(",")[0] for line in f.read().splitlines()] == ["global_id", "2"]


def test_a_resume_with_changed_metrics_is_refused_before_anything_is_touched(tmp_path, stub_graph):
    run_dir = _trained(tmp_path)
    before = _listing(run_dir)
    with pytest.raises(ConfigError) as err:
        _resume(
            run_dir,
            iteration=4,
            metrics=["swd", "inception_score"],
            inception_graph=stub_graph,
            is_num_samples=16,
            is_num_splits=2,
        )
    message = str(err.value)
    assert os.path.join(run_dir, rf.METRICS_FILE) in message and "\n" not in message
    assert "'inception_score_mean'" in message and "metrics changed" in message
    # the refused proposal is all that changed (the scheduler removes it); config.json stays
    assert _listing(run_dir, skip=(rf.PROPOSED_CONFIG_FILE,)) == before


def test_a_resume_refused_for_changed_shapes_adds_no_event_file(tmp_path):
    run_dir = _trained(tmp_path, metrics=[])
    before = _listing(run_dir)
    with pytest.raises(ConfigError, match="cannot resume from this checkpoint"):
        _resume(run_dir, iteration=4, network_width=0.5)
    # no new events.out.tfevents.* in checkpoint/, config.json as it was
    assert _listing(run_dir, skip=(rf.PROPOSED_CONFIG_FILE,)) == before


def test_the_force_rerun_line_names_the_run_of_a_task_without_test_config(tmp_path):
    fake = tmp_path / "fake_run.py"
    fake.write_text(FAKE_RUN)
    task = load_task(
        write_task(
            tmp_path,
            text="config = {'scheduler_config': {'gpu': ['0'], "
            "'result_root_folder': 'res'}, 'global_config': "
            "{'dataset': 'shapes', 'mg': 4, 'iteration': 5}}\n",
        )
    )
    command = [sys.executable, str(fake)]
    assert run_scheduler(task, command)[0] == 0
    code, console = run_scheduler(task, command, force_rerun=True)
    assert code == 0
    (line,) = [x for x in console.splitlines() if "force_rerun of" in x]
    assert f"force_rerun of the run in the results root {task.results_root}: " in line


def test_the_start_line_names_the_run_of_a_task_without_test_config(tmp_path):
    fake = tmp_path / "fake_run.py"
    fake.write_text(FAKE_RUN)
    task = load_task(
        write_task(
            tmp_path,
            text="config = {'scheduler_config': {'gpu': ['0'], "
            "'result_root_folder': 'res'}, 'global_config': "
            "{'dataset': 'shapes', 'mg': 4, 'iteration': 5}}\n",
        )
    )
    code, console = run_scheduler(task, [sys.executable, str(fake)])
    assert code == 0
    (line,) = [x for x in console.splitlines() if " starts " in x and "(pid " in x]
    assert f"starts the run in the results root {task.results_root} (pid " in line


# ---------------------------------------------------------------------------------------------
# issue 34 item 1: a resume the scheduler's new config does not fit changes no file of the run


def test_a_resume_refused_through_the_scheduler_leaves_every_file_of_the_run_as_it_was(tmp_path):
    run = dict(SMALL_RUN, metrics=[], iteration=2)
    task = load_task(
        write_task(
            tmp_path,
            scheduler={"gpu": ["0"], "result_root_folder": "res"},
            global_config=run,
            test_config=[{"run": [0]}],
        )
    )
    run_dir = task.runs[0].run_dir

    def start(overrides: str) -> int:
        scheduler = Scheduler(
            select_runs(task, overrides=overrides),
            handle_signals=False,
            console=open(os.devnull, "w"),
        )
        return scheduler.start()

    assert start("iteration=2") == 0
    os.remove(os.path.join(run_dir, rf.COMPLETED_FILE))  # a run that has not finished
    config = read(os.path.join(run_dir, rf.CONFIG_FILE))
    before = _listing(run_dir, skip=(rf.WORKER_LOG,))
    assert start("iteration=4,network_width=0.5") == rf.EXIT_BAD_INPUT
    # every file but the two that record the refusal (status.json failed, the worker log)
    assert _listing(run_dir, skip=(rf.WORKER_LOG,)) == before
    assert read(os.path.join(run_dir, rf.CONFIG_FILE)) == config
    assert rf.read_status(run_dir).state == rf.FAILED
    assert "cannot resume from this checkpoint" in rf.read_status(run_dir).error
    # the old width back: the resume is accepted and config.json becomes the new config
    assert start("iteration=4") == 0
    assert json.loads(read(os.path.join(run_dir, rf.CONFIG_FILE)))["iteration"] == 4
    assert not os.path.exists(os.path.join(run_dir, rf.PROPOSED_CONFIG_FILE))
