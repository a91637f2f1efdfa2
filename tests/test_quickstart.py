"""The quickstart: generated shapes, the download-free shapes metrics, and a shortened run."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from gan.metrics import shapes_features
from gan.metrics.base import MetricContext
from gan.metrics.shapes_features import ShapesFeatureDistance, train_classifier
from gan.run_folder import read_status
from gan.shapes import SHAPE_KINDS, make_shapes
from gan.tasks import load_task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_shapes_are_seeded_rgb_uint8_with_every_kind():
    a, la = make_shapes(64, seed=3)
    b, lb = make_shapes(64, seed=3)
    assert a.shape == (64, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert set(la) == set(range(len(SHAPE_KINDS)))
    assert (a[..., 0] != a[..., 1]).any()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BSN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_shapes_classifier_learns_the_labels_and_its_fid_is_small_for_real_and_large_for_noise(
    cache, monkeypatch
):
    """The metric's first setup trains the classifier (held-out accuracy above 0.9) and caches
    it; its distances separate real shapes from noise."""
    accuracies = []

    def recorded(*args, **kwargs):
        model, accuracy = train_classifier(*args, **kwargs)
        accuracies.append(accuracy)
        return model, accuracy

    monkeypatch.setattr(shapes_features, "train_classifier", recorded)
    real, _ = make_shapes(1200, seed=0)
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1, 1, (600, 32, 32, 3)).astype(np.float32)
    other_real = make_shapes(600, seed=5)[0].astype(np.float32) / 127.5 - 1.0
    metric = ShapesFeatureDistance(num_samples=600, num_real=600)
    source = {"x": other_real}
    ctx = MetricContext(
        sample=lambda n: source["x"][:n],
        sample_real=None,
        real_images=real,
        rng=rng,
        run_dir=str(cache),
    )
    metric.setup(ctx)
    assert len(accuracies) == 1 and accuracies[0] > 0.9
    assert (cache / "shapes_classifier-v1.weights.h5").is_file()
    close = metric.evaluate(ctx, 0)
    source["x"] = noise
    far = metric.evaluate(ctx, 1)
    assert close["shapes_fid"] * 10 < far["shapes_fid"]
    assert close["shapes_kid"] < far["shapes_kid"]
    kept = metric.state_arrays()
    again = ShapesFeatureDistance(num_samples=600, num_real=600)
    again.setup(
        MetricContext(
            sample=None,
            sample_real=None,
            real_images=real,
            rng=np.random.default_rng(9),
            run_dir="",
        )
    )
    again.load_state_arrays(kept)
    np.testing.assert_array_equal(again.real_indices, metric.real_indices)


def test_quickstart_task_is_sn_bsn_and_bssn():
    task = load_task(os.path.join(REPO, "tasks", "quickstart"))
    assert [(r.config.sn_mode, r.config.scale) for r in task.runs] == [
        ("SN", 1.0),
        ("BSN", 1.0),
        ("BSN", 1.6),
    ]
    assert all(r.config.dataset == "shapes" for r in task.runs)


def test_shortened_quickstart_runs_through_main(tmp_path, cache):
    over = (
        "iteration=4,vis_freq=2,metric_freq=4,save_checkpoint_freq=2,vis_num_h=2,"
        "vis_num_w=2,swd_num_samples=64,fid_num_samples=64,fid_num_real=64"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", BSN_CACHE_DIR=str(cache))
    out = subprocess.run(
        [
            sys.executable,
            "main.py",
            "--set",
            over,
            "--results_dir",
            str(tmp_path / "qs"),
            "--only",
            "sn_mode=BSN,scale=1.6",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    run = tmp_path / "qs" / "scale-1.6,sn_mode-BSN,"
    assert (run / "COMPLETED").is_file()
    with open(run / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["global_id", "swd", "shapes_fid", "shapes_kid"]
    assert rows[1][0] == "3" and all(np.isfinite(float(v)) for v in rows[1][1:])
    # The trainer's progress reached status.json (the console's source); the console ends
    # with where to look.
    status = read_status(str(run))
    assert status.state == "completed" and status.iteration == 4
    assert set(status.progress) == {"it_per_s", "eta_s", "losses"}
    assert f"scale-1.6,sn_mode-BSN,: {run / 'sample' / 'global_id-3.png'}" in out.stdout
    assert f"Report (tables, curves, failures): {tmp_path / 'qs' / 'report'}" in out.stdout


def test_quickstart_alone_uses_narrow_networks_and_the_paper_tasks_keep_width_one():
    quick = load_task(os.path.join(REPO, "tasks", "quickstart"))
    assert all(r.config.network_width < 1.0 for r in quick.runs)
    for name in sorted(os.listdir(os.path.join(REPO, "tasks"))):
        if name != "quickstart" and os.path.isfile(os.path.join(REPO, "tasks", name, "config.py")):
            task = load_task(os.path.join(REPO, "tasks", name))
            assert {r.config.network_width for r in task.runs} == {1.0}, name
