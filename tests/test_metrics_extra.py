"""KID and SWD against direct NumPy computations; SWD determinism, flat images and resume."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from gan.metrics import kid, swd
from gan.metrics.base import MetricContext
from gan.metrics.registry import build_metrics
from tests.helpers import run_config


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]

    def k(a, b):
        return (a @ b.T / d + 1) ** 3

    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * k(x, y).mean()
    )


def kid_blocks(x: np.ndarray, y: np.ndarray, block: int) -> float:
    blocks = math.ceil(max(len(x), len(y)) / block)

    def bounds(n):
        v, plus = divmod(n, blocks)
        sizes = [v] * (blocks - plus) + [v + 1] * plus
        return np.concatenate([[0], np.cumsum(sizes)])

    bx, by = bounds(len(x)), bounds(len(y))
    return float(
        np.mean([mmd2_unbiased(x[bx[i] : bx[i + 1]], y[by[i] : by[i + 1]]) for i in range(blocks)])
    )


def test_kid_matches_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 8)), rng.normal(0.3, 1.2, size=(45, 8))
    assert kid.kernel_distance(x, y) == pytest.approx(mmd2_unbiased(x, y), rel=1e-9)
    assert kid.kernel_distance(x, y, max_block_size=20) == pytest.approx(
        kid_blocks(x, y, 20), rel=1e-9
    )
    x2 = rng.normal(size=(60, 8))  # same distribution as x: unbiased, so near 0
    assert abs(kid.kernel_distance(x, x2)) < 0.2 * kid.kernel_distance(x, y)


def ramps(n: int, size: int, seed: int) -> np.ndarray:
    """Images a*y + b*x + c_channel: every 7x7 patch normalizes to the same vector."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    a, b = (rng.uniform(-3, 3, size=(n, 1, 1, 1)) for _ in range(2))
    c = rng.uniform(-30, 30, size=(n, 1, 1, 3))
    return a * yy[None, :, :, None] + b * xx[None, :, :, None] + c


def test_swd_matches_numpy_with_known_projections(monkeypatch):
    dim = 7 * 7 * 3
    proj = np.random.default_rng(7).normal(size=(dim, dim)).astype(np.float32)
    monkeypatch.setattr(tf.random, "normal", lambda shape, **kw: tf.constant(proj))
    real, fake = ramps(12, 16, 1), ramps(12, 16, 2)  # 16 px: one level, the image itself
    got = swd.sliced_wasserstein(real, fake, patches_per_image=5, seed=3)

    def descriptors(images):
        patches = images[:, :7, :7, :].reshape(len(images), -1).astype(np.float32)
        patches = (patches - patches.mean(1, keepdims=True)) / patches.std(1, keepdims=True)
        return np.repeat(patches, 5, axis=0)

    unit = proj / np.sqrt((proj**2).sum(0, keepdims=True))
    pa = np.sort(descriptors(real) @ unit, axis=0)
    pb = np.sort(descriptors(fake) @ unit, axis=0)
    assert len(got) == 1
    assert got[0] == pytest.approx(np.abs(pa - pb).mean(), rel=1e-4)


def test_swd_patch_normalization_and_draw():
    rng = np.random.default_rng(0)
    level = rng.normal(size=(3, 10, 10, 3))
    patches = swd.random_patches(level, 4, 7, np.random.default_rng(5))
    assert patches.shape == (12, 7, 7, 3)
    for j, p in enumerate(patches):  # 4 windows of image 0, then of image 1, ...
        assert any(
            np.array_equal(level[j // 4, y : y + 7, x : x + 7], p)
            for y in range(4)
            for x in range(4)
        )
    flat = np.zeros((2, 7, 7, 3))
    flat[1] += rng.normal(size=(7, 7, 3))
    out = swd.normalize_patches(flat)
    assert np.all(out[0] == 0)
    assert out[1].mean() == pytest.approx(0, abs=1e-6) and out[1].std() == pytest.approx(1, 1e-5)


def test_swd_level_patches_do_not_depend_on_the_pyramid_batch_size():
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (23, 32, 32, 3), dtype=np.uint8)
    for level, size in ((0, 32), (1, 16)):
        ys, xs = swd.patch_centres(23, size, size, 5, 7, np.random.default_rng(level))
        whole = swd.level_patches(images, level, 2, ys, xs, 5, 7, batch_size=64)
        batched = swd.level_patches(images, level, 2, ys, xs, 5, 7, batch_size=4)
        assert whole.shape == (23 * 5, 147)
        np.testing.assert_allclose(batched, whole, rtol=1e-6, atol=1e-6)


def test_swd_levels_determinism_and_flat_images():
    assert [swd.swd_levels(s) for s in (16, 32, 48, 64, 128)] == [1, 2, 2, 3, 4]
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    fake[:, :20] = 255  # flat areas: tfgan's own normalization gives NaN here
    first = swd.sliced_wasserstein(real, fake, 16, seed=11)
    assert len(first) == 2 and all(math.isfinite(v) and v > 0 for v in first)
    state = np.random.get_state()
    assert swd.sliced_wasserstein(real, fake, 16, seed=11) == first
    assert np.random.get_state()[1].tolist() == state[1].tolist()
    assert swd.sliced_wasserstein(real, fake, 16, seed=12) != first
    near = swd.sliced_wasserstein(real, real[::-1], 16, seed=11)
    assert max(near) < min(first)


def swd_context(seed: int, calls: list) -> MetricContext:
    real = np.random.default_rng(0).integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
    gen = np.random.default_rng(5)

    def sample(n):
        calls.append(n)
        return np.tanh(gen.normal(size=(n, 16, 16, 3))).astype(np.float32)

    rng = np.random.default_rng(seed)
    return MetricContext(
        sample=sample,
        sample_real=lambda n: real[:n],
        real_images=real,
        rng=rng,
        run_dir="/tmp",
    )


def test_swd_callback_resume_and_config():
    cfg = run_config(metrics=["swd"], swd_num_samples=32, swd_patches_per_image=8)
    calls: list = []
    (first,) = build_metrics(cfg)
    assert first.columns() == ["swd"] and first.num_samples == 32
    ctx = swd_context(0, calls)
    first.setup(ctx)
    value = first.evaluate(ctx, 99)["swd"]
    assert math.isfinite(value) and sum(calls) == 32
    state = first.state_arrays()
    assert set(state) == {"swd_seed", "swd_real_indices"}

    (resumed,) = build_metrics(cfg)
    ctx = swd_context(42, [])
    resumed.setup(ctx)
    resumed.load_state_arrays(state)
    assert resumed.evaluate(ctx, 99)["swd"] == pytest.approx(value, rel=1e-6)

    with pytest.raises(ValueError, match=r"min 1\.2\d*, max 1\.2"):
        resumed.evaluate(
            MetricContext(
                sample=lambda n: np.full((n, 16, 16, 3), 1.2, np.float32),
                sample_real=ctx.sample_real,
                real_images=ctx.real_images,
                rng=ctx.rng,
                run_dir="/tmp",
            ),
            0,
        )


SWD_ALONE = """
import sys
import numpy as np
from gan.metrics import swd
from gan.tfgan import tfgan_eval
images = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
value = swd.sliced_wasserstein(images, images[::-1], patches_per_image=4, seed=1)
assert "tensorflow_probability" not in sys.modules and "tensorflow_hub" not in sys.modules
module = sys.modules["tensorflow_gan.python.eval.sliced_wasserstein"]
assert tfgan_eval().sliced_wasserstein_distance is module.sliced_wasserstein_distance
print("ok", value)
"""


def test_swd_loads_only_tfgans_sliced_wasserstein_file():
    """A run whose only metric is SWD does not import TensorFlow Probability or tensorflow-hub
    (1.2 s of its start); a later full ``tfgan_eval()`` reuses the module SWD loaded."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(
        [sys.executable, "-c", SWD_ALONE], cwd=repo, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]
