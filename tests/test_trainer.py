"""The training schedule, diagnostics, outputs, checkpoints and exact resume (docs/faithfulness.md
sections 6-7)."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from gan.config import validate_run_config
from gan.layers import BatchNorm
from gan.metrics.base import MetricCallback
from gan.trainer import Trainer, image_grid


def _config(**over):
    cfg = dict(
        dataset="cifar10",
        iteration=4,
        mg=4,
        batch_size=4,
        vis_freq=2,
        vis_num_h=2,
        vis_num_w=3,
        metric_freq=1000,
        save_checkpoint_freq=2,
        metrics=[],
        time_freq=2,
        network_width=0.25,  # a quarter of the channels: what is pinned here is width-free
    )
    cfg.update(over)
    return validate_run_config(cfg)


IMAGES = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)


def _u(trainer):
    return [v.numpy().copy() for v in trainer.discriminator.u_variables()]


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_u_moves_once_per_d_step_and_never_in_g_step_or_diagnostics(tmp_path):
    t = Trainer(_config(sn_mode="BSN", n_dis=3), str(tmp_path), IMAGES, seed=0)
    u0 = _u(t)
    real, z = t.schedule.sample_real(4), t.schedule.sample_z(4)
    t.schedule.d_step(real, t.generator(z, training=True), diagnostics=True)
    assert _same(u0, _u(t)), "a D step with diagnostics must not move u"
    t.schedule.g_step(z)
    assert _same(u0, _u(t)), "the G step must not move u"
    t.discriminator.update_u()
    u1 = _u(t)
    assert all(not np.array_equal(a, b) for a, b in zip(u0, u1, strict=True))

    calls = []
    original = t.discriminator.update_u
    t.discriminator.update_u = lambda: (calls.append(1), original())[1]
    t.train_iteration(with_summary=True)  # traced: update_u is called once per D step
    assert len(calls) == 3
    assert not _same(u1, _u(t))


def test_g_batch_norm_averages_move_on_every_training_call(tmp_path):
    t = Trainer(_config(), str(tmp_path), IMAGES, seed=0)
    bn = t.generator.bns[1]
    z = t.schedule.sample_z(4)
    m0 = bn.moving_mean.numpy().copy()
    t.schedule.d_step(t.schedule.sample_real(4), t.generator(z, training=True), diagnostics=False)
    m1 = bn.moving_mean.numpy().copy()
    assert not np.array_equal(m0, m1)
    t.schedule.g_step(z)
    assert not np.array_equal(m1, bn.moving_mean.numpy())
    before = bn.moving_mean.numpy().copy()
    t.generate(z)
    np.testing.assert_array_equal(before, bn.moving_mean.numpy())


def test_batch_norm_uses_tf1_fused_rules():
    bn = BatchNorm()
    x = tf.constant(np.random.default_rng(1).standard_normal((5, 3, 3, 2)), tf.float32)
    y = bn(x, training=True)
    flat = x.numpy().reshape(-1, 2)
    mean, var = flat.mean(0), flat.var(0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        bn.moving_variance.numpy(), 0.9 + 0.1 * var * len(flat) / (len(flat) - 1), rtol=1e-5
    )
    np.testing.assert_allclose(
        y.numpy().reshape(-1, 2), (flat - mean) / np.sqrt(var + 1.001e-5), rtol=1e-4, atol=1e-5
    )
    frozen = bn.moving_mean.numpy().copy()
    bn(x, training=True, update_stats=False)
    np.testing.assert_array_equal(frozen, bn.moving_mean.numpy())


def _scalars(event_dir):
    out = {}
    for name in os.listdir(event_dir):
        if name.startswith("events.out.tfevents"):
            for e in tf.compat.v1.train.summary_iterator(os.path.join(event_dir, name)):
                for v in e.summary.value:
                    val = tf.make_ndarray(v.tensor) if v.HasField("tensor") else v.simple_value
                    out.setdefault(v.tag, {})[e.step] = float(val)
    return out


def test_bsn_run_writes_every_output_and_the_spec_scalars(tmp_path):
    cfg = _config(sn_mode="BSN", iteration=5, extra_checkpoint_freq=4, save_checkpoint_freq=1)
    t = Trainer(cfg, str(tmp_path), IMAGES, seed=3)
    assert t.train()
    ckpt = tmp_path / "checkpoint"
    names = set(os.listdir(ckpt))
    assert {f"model-{i}.index" for i in range(5)} <= names  # 5 latest kept
    assert (ckpt / "global_id-3" / "model-3.index").is_file()
    samples = sorted(os.listdir(tmp_path / "sample"))
    assert samples == ["global_id-1.png", "global_id-3.png"]
    png = Image.open(tmp_path / "sample" / "global_id-3.png")
    assert png.size == (3 * 32, 2 * 32) and png.mode == "RGB"
    lines = (tmp_path / "time.txt").read_text().splitlines()
    assert [ln.split(":")[0] for ln in lines] == [
        "iter 0 starts",
        "iter 0 ends",
        "iter 1 starts",
        "iter 1 ends",
        "iter 3 starts",
        "iter 3 ends",
        "iter 4 starts",
        "iter 4 ends",
    ]
    scalars = _scalars(str(ckpt))
    expected = {
        "loss/g",
        "loss/g/fake",
        "loss/d",
        "loss/d/real",
        "loss/d/fake",
        "d/real",
        "d/fake",
        "d/mean_real_slopes",
        "d/min_real_slopes",
        "d/max_real_slopes",
        "d/mean_fake_slopes",
        "d/min_fake_slopes",
        "d/max_fake_slopes",
        "d/sigma7",
    }
    expected |= {f"d/sigma{i}_{j}" for i in range(7) for j in range(3)}
    assert expected <= set(scalars)
    assert set(scalars["loss/d"]) == set(range(5))
    s = scalars
    assert s["d/sigma0_0"][0] == pytest.approx((s["d/sigma0_1"][0] + s["d/sigma0_2"][0]) / 2)
    assert s["d/min_real_slopes"][2] <= s["d/mean_real_slopes"][2] <= s["d/max_real_slopes"][2]


def _all_state(t):
    vs = t.generator.variables + t.discriminator.variables + t.g_opt.variables + t.d_opt.variables
    return [v.numpy() for v in vs]


def test_resumed_run_ends_with_the_same_variables_as_an_uninterrupted_one(
    tmp_path, deterministic_ops
):
    cfg = dict(n_dis=2, loss="wgan_gp", d_gp_coe=10.0, gamma="diff", save_checkpoint_freq=100)
    full = Trainer(_config(iteration=4, **cfg), str(tmp_path / "a"), IMAGES, seed=7)
    assert full.train()
    part = Trainer(_config(iteration=2, **cfg), str(tmp_path / "b"), IMAGES, seed=7)
    assert part.train()  # saves model-1 at its last iteration
    resumed = Trainer(_config(iteration=4, **cfg), str(tmp_path / "b"), IMAGES, seed=7)
    assert resumed.restore() == 1
    resumed = Trainer(_config(iteration=4, **cfg), str(tmp_path / "b"), IMAGES, seed=7)
    assert resumed.train()
    a, b = _all_state(full), _all_state(resumed)
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        np.testing.assert_array_equal(y, x, err_msg=str(i))
    np.testing.assert_array_equal(full.rng.state.numpy(), resumed.rng.state.numpy())


class MeanOfSamples(MetricCallback):
    """A cheap metric of the generator: the mean of 8 generated images."""

    def columns(self):
        return ["mean"]

    def evaluate(self, context, global_id):
        return {"mean": float(np.mean(context.sample(8)))}


def test_resume_cuts_metrics_csv_back_to_the_checkpoint_it_restores(tmp_path, deterministic_ops):
    """A run whose latest checkpoint is lost (cut mid-write, as after kill -9 on a network
    file system) resumes from the one before and drops the metrics rows written after it: its
    metrics.csv ends equal to an uninterrupted run's, whole file."""
    cfg = dict(metric_freq=1, save_checkpoint_freq=3, vis_freq=100, summary_freq=100)
    full = Trainer(
        _config(iteration=8, **cfg),
        str(tmp_path / "a"),
        IMAGES,
        metric_callbacks=[MeanOfSamples()],
        seed=7,
    )
    assert full.train()
    run_dir = tmp_path / "b"
    part = Trainer(
        _config(iteration=6, **cfg),
        str(run_dir),
        IMAGES,
        metric_callbacks=[MeanOfSamples()],
        seed=7,
    )
    assert part.train()  # checkpoints model-2 and model-5, metrics rows 0 to 5
    data = run_dir / "checkpoint" / "model-5.data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    csv_path = run_dir / "metrics.csv"
    assert [r.split(",")[0] for r in csv_path.read_text().splitlines()[1:]] == [
        str(n) for n in range(6)
    ]

    resumed = Trainer(
        _config(iteration=8, **cfg),
        str(run_dir),
        IMAGES,
        metric_callbacks=[MeanOfSamples()],
        seed=7,
    )
    assert resumed.restore() == 2
    assert [r.split(",")[0] for r in csv_path.read_text().splitlines()[1:]] == ["0", "1", "2"]
    resumed = Trainer(
        _config(iteration=8, **cfg),
        str(run_dir),
        IMAGES,
        metric_callbacks=[MeanOfSamples()],
        seed=7,
    )
    assert resumed.train()
    assert csv_path.read_bytes() == (tmp_path / "a" / "metrics.csv").read_bytes()


def test_stop_request_saves_the_current_iteration_and_returns_false(tmp_path):
    t = Trainer(_config(iteration=50, save_checkpoint_freq=1000), str(tmp_path), IMAGES, seed=0)
    t.stop_requested = True
    assert t.train() is False
    assert (tmp_path / "checkpoint" / "model-0.index").is_file()
    again = Trainer(_config(iteration=50, save_checkpoint_freq=1000), str(tmp_path), IMAGES, seed=0)
    assert again.restore() == 0


def test_image_grid_tiles_row_major_and_min_max_scales():
    imgs = np.stack([np.full((2, 2, 3), v, np.float32) for v in (-1.0, 0.0, 0.5, 1.0)])
    grid = image_grid(imgs, 2, 2)
    assert grid.shape == (4, 4, 3) and grid.dtype == np.uint8
    assert grid[0, 0, 0] == 0 and grid[3, 3, 0] == 254
    assert grid[0, 2, 0] == int((1.0 + 1e-8) / (2.0 + 2e-8) * 255)
    with pytest.raises(ValueError):
        image_grid(imgs, 3, 2)


def test_mg_that_does_not_fit_the_data_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="mg = 6 makes 48x48 images .* use mg = 4"):
        Trainer(_config(mg=6), str(tmp_path), IMAGES, seed=0)
