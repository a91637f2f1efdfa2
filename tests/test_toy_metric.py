"""A metric is one registration: a toy metric registered here, and nowhere else, with a count key
of its own (``toy_num_samples``), is validated, listed by --dry_run, computed in training and by
``evaluate`` (its ``--toy_num_samples`` flag included), and ranked by the report as its spec says
(docs/architecture.md "Adding a metric" walks through this file)."""

from __future__ import annotations

import csv
import os
import textwrap

import numpy as np
import pytest

from gan import cli as gan_cli
from gan.config import RUN_KEYS, ConfigError
from gan.keys import Key, positive
from gan.metrics.base import MetricCallback, MetricContext
from gan.metrics.names import (
    HIGHER,
    LOWER,
    MetricSettings,
    MetricSpec,
    count_flags,
    register_metric,
    setting_keys,
    unregister_metric,
)
from tests.after_training import cli
from tests.helpers import TINY_RUN_CONFIG, run_config, train_tiny_run


class ToyMetric(MetricCallback):
    """``toy_iteration``: the iteration itself; ``toy_brightness``: the mean pixel value of
    ``num_samples`` generated images."""

    def __init__(self, num_samples: int):
        self.num_samples = num_samples

    def columns(self) -> list[str]:
        return ["toy_iteration", "toy_brightness"]

    def evaluate(self, context: MetricContext, global_id: int) -> dict[str, float]:
        return {
            "toy_iteration": float(global_id),
            "toy_brightness": float(np.mean(context.sample(self.num_samples))),
        }


def build_toy(settings: MetricSettings, shared: dict) -> ToyMetric:
    """The toy metric of a run: it reads ``toy_num_samples`` generated images (its own key)."""
    del shared
    assert set(settings) == {*COMMON, "toy_num_samples"}  # its own keys, no whole run config
    return ToyMetric(settings.toy_num_samples)


COMMON = {"metric_batch_size", "inception_batch_size", "inception_graph", "on_missing_inception"}
TOY = MetricSpec(
    "toy",
    ("toy_iteration", "toy_brightness"),
    build=build_toy,
    better={"toy_iteration": HIGHER, "toy_brightness": LOWER},
    reads_real=False,
    counts={"toy_num_samples": Key((int,), 6, "generated images the toy metric reads", positive)},
    samples="toy_num_samples",
)


@pytest.fixture(scope="module", autouse=True)
def toy_registered():
    register_metric(TOY)
    yield
    unregister_metric(TOY.name)


@pytest.fixture(scope="module")
def toy_task(tmp_path_factory):
    """A task folder of one tiny shapes run measuring the toy metric, and that run trained in
    this process (the registration above is this process's)."""
    from gan.tasks import load_task

    root = tmp_path_factory.mktemp("toy")
    global_config = dict(TINY_RUN_CONFIG, metrics=["toy"], network_width=0.125, toy_num_samples=4)
    (root / "config.py").write_text(
        textwrap.dedent(f"""
        config = {{
            "scheduler_config": {{"gpu": ["0"], "result_root_folder": "results"}},
            "global_config": {global_config!r},
            "test_config": [{{"run": [0]}}],
        }}
    """)
    )
    [run] = load_task(str(root)).runs
    return str(root), run


def read_rows(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_toy_metric_is_validated_like_a_built_in_one():
    assert run_config(dataset="shapes", metrics=["toy", "swd"]).metrics == ("toy", "swd")
    assert run_config(metrics=["toy"]).toy_num_samples == 6  # its key's default
    assert run_config(metrics=["toy"], toy_num_samples=3).to_dict()["toy_num_samples"] == 3
    with pytest.raises(ConfigError, match="toy_num_samples = 0, expected a positive number"):
        run_config(toy_num_samples=0)
    assert "toy_num_samples" in RUN_KEYS and "toy_num_samples" in setting_keys()
    with pytest.raises(ConfigError, match="'toy' listed more than once"):
        run_config(metrics=["toy", "toy"])
    with pytest.raises(ConfigError, match="unknown metric 'toyy'; known metrics: .*toy"):
        run_config(metrics=["toyy"])
    unregister_metric("toy")
    try:
        with pytest.raises(ConfigError, match="unknown metric 'toy'"):
            run_config(metrics=["toy"])
        with pytest.raises(ConfigError, match="unknown key 'toy_num_samples'"):
            run_config(toy_num_samples=3)
        assert "toy_num_samples" not in count_flags()
    finally:
        register_metric(TOY)
    with pytest.raises(ValueError, match="registered already"):
        register_metric(TOY)
    with pytest.raises(ValueError, match="column 'fid' belongs to metric 'fid'"):
        register_metric(MetricSpec("toy2", ("fid",), build=build_toy))
    other = {"toy_num_samples": Key((int,), 7, "another meaning", positive)}
    with pytest.raises(ValueError, match="key 'toy_num_samples' differs"):
        register_metric(MetricSpec("toy2", ("toy2",), build=build_toy, counts=other))
    assert "toy_num_samples" in count_flags()


def test_evaluate_takes_the_toy_metrics_count_as_a_flag(capsys):
    assert gan_cli.run_cli(["main.py", "evaluate", "--help"]) == 0
    assert "--toy_num_samples: evaluate: generated images the toy metric reads" in (
        capsys.readouterr().out
    )
    assert "toy_num_samples" in gan_cli.own_flags(gan_cli.COMMANDS["evaluate"])


def test_dry_run_lists_the_run_of_a_task_measuring_the_toy_metric(toy_task, capsys):
    task_dir, run = toy_task
    assert cli(task_dir, "--dry_run") == 0
    out = capsys.readouterr().out
    assert f"{run.name}  {run.run_dir}  (new)" in out
    assert not os.path.exists(run.run_dir)


def test_training_evaluate_and_report_compute_and_rank_the_toy_metric(toy_task):
    from gan.report import write_report

    task_dir, run = toy_task
    train_tiny_run(run.run_dir, None, metrics=["toy"], network_width=0.125, toy_num_samples=4)
    assert run.config.toy_num_samples == 4
    rows = read_rows(os.path.join(run.run_dir, "metrics.csv"))
    assert list(rows[0]) == ["global_id", "toy_iteration", "toy_brightness"]
    assert [int(r["global_id"]) for r in rows] == [1, 3, 3]
    assert [float(r["toy_iteration"]) for r in rows] == [1.0, 3.0, 3.0]
    brightness = [float(r["toy_brightness"]) for r in rows]
    assert all(-1.0 <= b <= 1.0 for b in brightness) and brightness[0] != brightness[1]

    # evaluate scores the last checkpoint as training did
    assert cli("evaluate", run.run_dir) == 0
    [evaluated] = read_rows(os.path.join(run.run_dir, "eval", "metrics.csv"))
    assert evaluated["checkpoint"] == "model-3"
    assert evaluated["toy_iteration"] == rows[-1]["toy_iteration"]
    assert evaluated["toy_brightness"] == rows[-1]["toy_brightness"]
    assert evaluated["toy_num_samples"] == "4"  # a settings column of eval/metrics.csv

    # its count flag: a row of its own, the brightness of another number of samples
    assert cli("evaluate", run.run_dir, "--toy_num_samples", "2") == 0
    by_count = {r["toy_num_samples"]: r for r in read_rows(run.run_dir + "/eval/metrics.csv")}
    assert set(by_count) == {"4", "2"}
    assert by_count["2"]["toy_brightness"] != by_count["4"]["toy_brightness"]

    # the report ranks each column as the spec says: toy_iteration by its maximum (its name
    # alone would leave it unranked), toy_brightness by its minimum
    summary = {r["metric"]: r for r in read_rows(write_report(task_dir).summary_csv_path)}
    assert summary["toy_iteration"]["direction"] == "max"
    assert float(summary["toy_iteration"]["best_mean"]) == 3.0
    assert summary["toy_brightness"]["direction"] == "min"
    assert float(summary["toy_brightness"]["best_mean"]) == pytest.approx(min(brightness))
    assert summary["eval_toy_iteration"]["direction"] == "max"
    assert not any("num_samples" in metric for metric in summary)  # a setting, not a metric


def test_evaluate_images_gives_the_toy_metric_its_own_settings(tmp_path, capsys):
    images = np.full((5, 32, 32, 3), 255, np.uint8)
    path = str(tmp_path / "white.npy")
    np.save(path, images)
    code = cli("evaluate", "--images", path, "--dataset", "shapes", "--metrics", "toy")
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out  # five images: the default 6 capped at the set's size
    assert "toy_brightness: 1.000000" in out and "toy_iteration: 0.000000" in out
    code = cli("evaluate", "--images", path, "--dataset", "shapes", "--metrics", "toy",
               "--toy_num_samples", "9")  # fmt: skip
    assert code == 2
    assert "--toy_num_samples 9: --images" in capsys.readouterr().err
