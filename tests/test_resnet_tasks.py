"""The ResNet tasks end to end through main.py on a tiny ImageNet folder, and stream resume."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from gan.config import validate_run_config
from gan.imagenet import ImageNetFolder
from gan.tasks import load_task
from gan.trainer import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITER = 4


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """``<root>/ImageNet/<class>/<image>.npy``: 3 classes of 3 random 128x128x3 uint8 images."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for c in range(3):
        folder = root / "ImageNet" / f"n0{c}"
        folder.mkdir(parents=True)
        for i in range(3):
            np.save(folder / f"img{i}.npy", rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
    return root


def test_the_task_configs_hold_the_original_values():
    # The original's values, from fjxmlzn/BSN at commit
    # 10862a2ce1a3efd045539d8b72c5353e888e4a92:
    # - no_gamma-ResNet/config.py: 24 runs (run 0-2 x 4 scales x SN/BSN), iteration, every
    #   *_freq, vis_freq, latent_dim, learning rates, betas, n_dis, num_gpus, d/g_batch_size,
    #   the scales and the first run's folder keys;
    # - no_gamma-ResNet/gan_task.py: ImageNet, and fid_num_real (the 5000 real images it
    #   samples for the metrics); no_gamma-ResNet/gan/gan.py build_loss: the hinge loss.
    # diff_gamma-ResNet is this port's own task (see its config.py).
    task = load_task(os.path.join(REPO, "tasks", "no_gamma-ResNet"))
    assert len(task.runs) == 24 and len(task.distinct_runs()) == 24
    cfg = task.runs[0].config
    expected = dict(
        dataset="imagenet",
        network="resnet",
        loss="hinge",
        gamma="none",
        iteration=500000,
        n_dis=5,
        d_batch_size=16,
        g_batch_size=32,
        num_gpus=1,
        g_lr=0.0002,
        d_lr=0.0002,
        g_beta1=0.0,
        d_beta1=0.0,
        g_beta2=0.9,
        d_beta2=0.9,
        extra_checkpoint_freq=50000,
        metric_freq=10000,
        save_checkpoint_freq=10000,
        vis_freq=200,
        latent_dim=128,
        fid_num_real=5000,
    )
    assert {k: getattr(cfg, k) for k in expected} == expected
    assert sorted({r.config.scale for r in task.runs}) == [1.0, 1.2, 1.4, 1.6]
    assert task.runs[0].name == (
        "d_batch_size-16,d_beta1-0.0,d_beta2-0.9,d_lr-0.0002,"
        "g_batch_size-32,g_beta1-0.0,g_beta2-0.9,g_lr-0.0002,n_dis-5,"
        "num_gpus-1,run-0,scale-1.0,sn_mode-SN,"
    )
    diff = load_task(os.path.join(REPO, "tasks", "diff_gamma-ResNet"))
    assert len(diff.runs) == 6
    assert {(r.config.sn_mode, r.config.run) for r in diff.runs} == {
        (m, i) for m in ("SN", "BSN") for i in range(3)
    }
    for run in diff.runs:
        c = run.config
        assert (c.loss, c.gamma, c.d_gp_coe, c.scale) == ("wgan_gp", "diff", 10.0, 1.0)
        assert {k: getattr(c, k) for k in expected if k not in ("loss", "gamma")} == {
            k: v for k, v in expected.items() if k not in ("loss", "gamma")
        }


def test_a_stream_opened_at_a_position_continues_the_stream(data_root):
    folder = ImageNetFolder(str(data_root / "ImageNet"), allow_subset=True)
    full = list(folder.dataset(2, seed=7, start=0).take(5).as_numpy_iterator())
    later = list(folder.dataset(2, seed=7, start=6).take(2).as_numpy_iterator())
    np.testing.assert_array_equal(np.stack(later), np.stack(full[3:5]))
    other = next(folder.dataset(2, seed=8, start=0).as_numpy_iterator())
    ids = np.concatenate([b[:, 0, 0, 0] for b in full] + [other[:, 0, 0, 0]])
    assert len(set(ids.tolist())) > 2  # not a constant stream
    with pytest.raises(ValueError, match="needs a seed"):
        folder.dataset(2, start=0)


def test_a_resumed_run_opens_the_stream_where_it_stopped(data_root, tmp_path, monkeypatch):
    cfg = validate_run_config(
        dict(
            dataset="imagenet",
            network="resnet",
            network_width=1 / 32,
            iteration=6,
            n_dis=3,
            d_batch_size=2,
            g_batch_size=2,
            metrics=[],
            vis_freq=1000,
            save_checkpoint_freq=1000,
        )
    )
    folder = ImageNetFolder(str(data_root / "ImageNet"), allow_subset=True)
    Trainer(cfg, str(tmp_path), folder, seed=4).save(3)
    t = Trainer(cfg, str(tmp_path), folder, seed=4)
    starts, iterations = [], []
    original = folder.dataset
    monkeypatch.setattr(
        folder, "dataset", lambda *a, **k: (starts.append(k["start"]), original(*a, **k))[1]
    )
    monkeypatch.setattr(t, "train_iteration", lambda s: (iterations.append(s), {})[1])
    assert t.train()
    assert starts == [4 * 3 * 2]  # iterations 0..3 consumed n_dis * d_batch_size images each
    assert len(iterations) == 2


def test_metrics_draw_their_real_images_from_the_stream_files(data_root, tmp_path):
    cfg = validate_run_config(
        dict(
            dataset="imagenet",
            network="resnet",
            network_width=1 / 32,
            iteration=1,
            d_batch_size=2,
            g_batch_size=2,
            metrics=[],
        )
    )
    folder = ImageNetFolder(str(data_root / "ImageNet"), allow_subset=True)
    t = Trainer(cfg, str(tmp_path), folder, seed=4)
    context = t.metric_context()
    assert context.real_images is None  # streamed: FID/SWD keep what sample_real returns
    real = context.sample_real(5)
    assert real.shape == (5, 128, 128, 3) and real.dtype == np.uint8
    assert context.sample(3).shape == (3, 128, 128, 3)


def _run_task(task, data_root, results, only, extra_set=""):
    overrides = (
        f"data_root={str(data_root)!r},imagenet_allow_subset=True,iteration={ITER},"
        "network_width=0.0625,d_batch_size=2,g_batch_size=4,n_dis=2,vis_freq=2,"
        "vis_num_h=2,vis_num_w=3,metric_freq=2,save_checkpoint_freq=2,"
        "extra_checkpoint_freq=2,time_freq=2,metrics=['swd'],swd_num_samples=8,"
        "swd_patches_per_image=8,seed=3" + extra_set
    )
    cmd = [
        sys.executable,
        os.path.join(REPO, "tasks", task, "main.py"),
        "--only",
        only,
        "--set",
        overrides,
        "--results_dir",
        str(results),
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    dirs = [d for d in os.listdir(results) if os.path.isdir(results / d) and d != "report"]
    log = (results / dirs[0] / "worker.log").read_text() if dirs else ""
    assert proc.returncode == 0, proc.stdout[-3000:] + log[-5000:]
    assert len(dirs) == 1
    assert (results / "report" / "report.md").is_file()  # written after the scheduler ends
    return results / dirs[0]


def _scalars(event_dir):
    out = {}
    for name in os.listdir(event_dir):
        if name.startswith("events.out.tfevents"):
            for e in tf.compat.v1.train.summary_iterator(os.path.join(event_dir, name)):
                for v in e.summary.value:
                    out.setdefault(v.tag, set()).add(e.step)
    return out


def _check_outputs(run_dir):
    assert (run_dir / "COMPLETED").is_file()
    assert sorted(os.listdir(run_dir / "sample")) == ["global_id-1.png", "global_id-3.png"]
    assert Image.open(run_dir / "sample" / "global_id-3.png").size == (3 * 128, 2 * 128)
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.reader(f))
    # No extra row at the extra checkpoints (the original's ResNet code only saved there).
    assert rows[0] == ["global_id", "swd"] and [r[0] for r in rows[1:]] == ["1", "3"]
    ckpt = run_dir / "checkpoint"
    assert {"model-1.index", "model-3.index"} <= set(os.listdir(ckpt))
    assert (ckpt / "global_id-1" / "model-1.index").is_file()
    assert (ckpt / "global_id-3" / "model-3.index").is_file()
    times = (run_dir / "time.txt").read_text()
    assert "iter 0 starts:" in times and f"iter {ITER - 1} ends:" in times
    scalars = _scalars(str(ckpt))
    for name in (
        "loss/g",
        "loss/g/fake",
        "loss/d",
        "loss/d/real",
        "loss/d/fake",
        "d/real",
        "d/fake",
        "d/mean_real_slopes",
        "d/min_fake_slopes",
        "d/max_fake_slopes",
        "memory/peak_rss",
        "memory/rss",
        "memory/vms",
    ):
        assert scalars.get(name) == set(range(ITER)), name
    assert (ckpt / "metric_state.npz").is_file()
    return scalars


def test_no_gamma_resnet_end_to_end(data_root, tmp_path):
    run_dir = _run_task(
        "no_gamma-ResNet", data_root, tmp_path / "out", "sn_mode=BSN,scale=1.2,run=0"
    )
    assert "scale-1.2,sn_mode-BSN," in run_dir.name
    scalars = _check_outputs(run_dir)
    sigmas = {t for t in scalars if t.startswith("d/sigma")}
    assert sigmas == {
        f"d/sigma{i}_{j}_{k}" for i in range(6) for j in range(3) for k in range(3)
    } | {"d/sigma6"}
    assert not any(t.startswith("d/gamma") or t == "loss/d/gp" for t in scalars)


def test_diff_gamma_resnet_end_to_end(data_root, tmp_path):
    run_dir = _run_task("diff_gamma-ResNet", data_root, tmp_path / "out", "sn_mode=SN,run=1")
    scalars = _check_outputs(run_dir)
    assert {f"d/gamma{i}" for i in range(19)} | {"loss/d/gp", "d/sigma0_0", "d/sigma6"} <= set(
        scalars
    )
