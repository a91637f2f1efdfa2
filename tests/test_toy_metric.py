"""A metric is one registration: a toy metric registered here, and nowhere else, is validated,
listed by --dry_run, computed in training and by ``evaluate``, and ranked by the report as its
spec says (docs/architecture.md "Adding a metric" walks through this file)."""

from __future__ import annotations

import csv
import os
import textwrap

import numpy as np
import pytest

from gan.config import ConfigError
from gan.metrics.base import MetricCallback, MetricContext
from gan.metrics.names import (
    HIGHER,
    LOWER,
    MetricSpec,
    count_flags,
    register_metric,
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


def build_toy(config, shared) -> ToyMetric:
    """The toy metric of a run: it reads ``fid_num_samples`` generated images."""
    del shared
    return ToyMetric(config.fid_num_samples)


TOY = MetricSpec(
    "toy",
    ("toy_iteration", "toy_brightness"),
    build=build_toy,
    better={"toy_iteration": HIGHER, "toy_brightness": LOWER},
    reads_real=False,
    counts=("fid_num_samples",),
    samples="fid_num_samples",
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
    global_config = dict(TINY_RUN_CONFIG, metrics=["toy"], network_width=0.125)
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
    with pytest.raises(ConfigError, match="'toy' listed more than once"):
        run_config(metrics=["toy", "toy"])
    with pytest.raises(ConfigError, match="unknown metric 'toyy'; known metrics: .*toy"):
        run_config(metrics=["toyy"])
    unregister_metric("toy")
    try:
        with pytest.raises(ConfigError, match="unknown metric 'toy'"):
            run_config(metrics=["toy"])
    finally:
        register_metric(TOY)
    with pytest.raises(ValueError, match="registered already"):
        register_metric(TOY)
    with pytest.raises(ValueError, match="column 'fid' belongs to metric 'fid'"):
        register_metric(MetricSpec("toy2", ("fid",), build=build_toy))
    assert "fid_num_samples" in count_flags()


def test_dry_run_lists_the_run_of_a_task_measuring_the_toy_metric(toy_task, capsys):
    task_dir, run = toy_task
    assert cli(task_dir, "--dry_run") == 0
    out = capsys.readouterr().out
    assert f"{run.name}  {run.run_dir}  (new)" in out
    assert not os.path.exists(run.run_dir)


def test_training_evaluate_and_report_compute_and_rank_the_toy_metric(toy_task):
    from gan.report import write_report

    task_dir, run = toy_task
    train_tiny_run(run.run_dir, None, metrics=["toy"], network_width=0.125)
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

    # the report ranks each column as the spec says: toy_iteration by its maximum (its name
    # alone would leave it unranked), toy_brightness by its minimum
    summary = {r["metric"]: r for r in read_rows(write_report(task_dir).summary_csv_path)}
    assert summary["toy_iteration"]["direction"] == "max"
    assert float(summary["toy_iteration"]["best_mean"]) == 3.0
    assert summary["toy_brightness"]["direction"] == "min"
    assert float(summary["toy_brightness"]["best_mean"]) == pytest.approx(min(brightness))
    assert summary["eval_toy_iteration"]["direction"] == "max"
