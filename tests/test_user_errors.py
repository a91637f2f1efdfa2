"""Every problem a user can fix ends as one ``error:`` line and exit 2, through the real entry
points: the scheduler's console (``--dry_run``), ``python -m gan.run`` and the after-training
commands. Anything else is a bug and keeps its traceback."""

import json
import os
import subprocess
import sys

import pytest

from gan import run_folder as rf
from gan.errors import ConfigError, DataError, MetricError, UserError
from tests.after_training import REPO, assert_one_error_line, cli
from tests.helpers import TINY_RUN_CONFIG


def test_every_user_error_class_derives_from_user_error():
    from gan.metrics.inception.graph import InceptionUnavailable

    for cls in (ConfigError, DataError, MetricError, InceptionUnavailable):
        assert issubclass(cls, UserError), cls


def test_dry_run_refuses_the_shapes_metric_on_another_dataset(tmp_path, capsys):
    from tests.test_scheduler import write_task

    task = write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "metrics": [["shapes"]]}])
    assert_one_error_line(capsys, cli(task, "--dry_run"), "'shapes'", "'cifar10'")


def test_an_unknown_network_has_one_message_from_the_registry_and_the_config():
    from gan.config import validate_run_config
    from gan.networks.specs import network_spec

    expected = "network = 'gan3', expected one of 'cnn', 'resnet'"
    with pytest.raises(ConfigError, match=f"^{expected}$"):
        network_spec("gan3")
    with pytest.raises(ConfigError, match=f"^config: {expected}$"):
        validate_run_config({"dataset": "cifar10", "network": "gan3", "iteration": 1, "mg": 4})


def _gan_run(run_dir, **config) -> subprocess.CompletedProcess:
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, rf.CONFIG_FILE), "w") as f:
        json.dump(dict(TINY_RUN_CONFIG, **config), f)
    return subprocess.run(
        [sys.executable, "-m", "gan.run", "--run_dir", str(run_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def _one_error_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == rf.EXIT_BAD_INPUT, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case", ["swd count", "metrics.csv header", "inception graph"])
def test_a_problem_found_inside_a_run_is_one_error_line_and_a_failed_run(tmp_path, case):
    run_dir = str(tmp_path / "run")
    if case == "swd count":
        proc = _gan_run(run_dir, metrics=["swd"], swd_num_samples=20000)
        words = ["swd_num_samples = 20000", "10000 training images"]
    elif case == "metrics.csv header":
        os.makedirs(run_dir)
        with open(os.path.join(run_dir, "metrics.csv"), "w") as f:
            f.write("global_id,fid\n")
        proc = _gan_run(run_dir, metrics=["swd"])
        words = ["metrics.csv", "the metrics changed since the run started"]
    else:
        missing = str(tmp_path / "nowhere" / "inception.pb")
        proc = _gan_run(run_dir, metrics=["fid"], inception_graph=missing)
        words = [missing]
    line = _one_error_line(proc, *words)
    status = rf.read_status(run_dir)
    assert (status.state, status.exit_code) == (rf.FAILED, rf.EXIT_BAD_INPUT)
    assert status.error[:80] == line.removeprefix("error: ")[:80]  # status.json cuts it


def test_a_count_the_data_cannot_meet_in_evaluate_is_one_error_line(trained_run, capsys):
    assert_one_error_line(
        capsys,
        cli("evaluate", trained_run, "--metrics", "swd", "--swd_num_samples", "20000"),
        trained_run,
        "swd_num_samples = 20000",
        "10000 training images",
    )
