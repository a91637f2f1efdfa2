"""IS, FID, the Inception graph path (lookup, download, skip) and the metric registry.

Every test runs a small stand-in graph with the real tensor names through the real loading and
execution path; nothing leaves this machine (downloads use file:// URLs).
"""

from __future__ import annotations

import dataclasses
import gc
import io
import math
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from gan.config import ConfigError, RunConfig
from gan.metrics import inception as inc
from gan.metrics import kid
from gan.metrics.base import MetricContext
from gan.metrics.registry import build_metrics, metric_columns
from gan.tfgan import tfgan_eval
from tests.helpers import run_config
from tests.inception_stub import stub_inception_graph_def

SIZE = 12


@pytest.fixture(scope="session")
def graph_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("graph") / inc.INCEPTION_PB
    path.write_bytes(stub_inception_graph_def(depth=16).SerializeToString())
    return str(path)


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """An empty cache, no graph from the environment, and a download that cannot succeed."""
    monkeypatch.setenv("BSN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BSN_INCEPTION_GRAPH", raising=False)
    monkeypatch.setenv("BSN_INCEPTION_URL", (tmp_path / "nowhere.tar.gz").as_uri())


def real_set(n: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)


class Generator:
    """A stand-in for inference-mode G: reproducible images in [-1, 1], counting calls."""

    def __init__(self, seed: int = 1, images: np.ndarray | None = None):
        self.rng = np.random.default_rng(seed)
        self.images = images
        self.calls = 0
        self.done = 0

    def __call__(self, n: int) -> np.ndarray:
        self.calls += 1
        self.done += n
        if self.images is not None:
            return self.images[self.done - n : self.done]
        return np.tanh(self.rng.normal(size=(n, SIZE, SIZE, 3))).astype(np.float32)


def make_context(
    real: np.ndarray | None = None,
    sample=None,
    seed: int = 0,
    streamed: bool = False,
) -> MetricContext:
    real = real_set() if real is None else real
    rng = np.random.default_rng(seed)
    return MetricContext(
        sample=sample or Generator(),
        sample_real=lambda n: real[rng.integers(0, len(real), n)],
        real_images=None if streamed else real,
        rng=rng,
        run_dir="/tmp",
    )


def small_config(**kw) -> RunConfig:
    cfg = {
        "metrics": ["inception_score", "fid"],
        "metric_batch_size": 16,
        "is_num_samples": 40,
        "is_num_splits": 4,
        "fid_num_samples": 48,
        "fid_num_real": 32,
    }
    cfg.update(kw)
    return run_config(**cfg)


def evaluate_all(callbacks, context, global_id=0) -> dict[str, float]:
    values = {}
    for cb in callbacks:
        cb.setup(context)
    for cb in callbacks:
        values.update(cb.evaluate(context, global_id))
    return values


def resize_tf1_numpy(image: np.ndarray, out: int) -> np.ndarray:
    """TF1 resize_bilinear, align_corners=False, no half-pixel centres: src = dst * in/out."""
    h, w = image.shape[:2]

    def axis(n_in):
        pos = np.arange(out) * (n_in / out)
        lo = np.floor(pos).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), pos - lo

    y0, y1, fy = axis(h)
    x0, x1, fx = axis(w)
    top = image[y0][:, x0] * (1 - fx)[None, :, None] + image[y0][:, x1] * fx[None, :, None]
    bottom = image[y1][:, x0] * (1 - fx)[None, :, None] + image[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]


# -- tensorflow-gan access ------------------------------------------------------------------


def test_tfgan_eval_loads_without_package_init():
    ev = tfgan_eval()
    for name in (
        "frechet_classifier_distance_from_activations",
        "classifier_score_from_logits",
        "kernel_classifier_distance_from_activations",
        "sliced_wasserstein_distance",
    ):
        assert callable(getattr(ev, name))
    assert not hasattr(sys.modules["tensorflow_gan"], "estimator")
    assert tfgan_eval() is ev


# -- pixel path and resize ------------------------------------------------------------------


def test_resize_is_tf1_rule_not_tf2():
    image = np.arange(3 * 3 * 3, dtype=np.float32).reshape(1, 3, 3, 3) ** 1.5
    ours = inc.resize_tf1(tf.constant(image), 5).numpy()[0]
    np.testing.assert_allclose(ours, resize_tf1_numpy(image[0], 5), rtol=1e-6)
    # The first output pixel samples input (0, 0) exactly under the TF1 rule.
    np.testing.assert_allclose(ours[0, 0], image[0, 0, 0])
    tf2 = tf.image.resize(image, [5, 5], method="bilinear").numpy()[0]
    assert np.abs(ours - tf2).max() > 1.0


def test_pixel_path_of_generated_and_real_images():
    x = np.float32([-1.0, -0.3, 0.0, 0.7, 1.0])
    expect = ((x + 1) / 2 * np.float32(255.0)) / np.float32(255.0) * 2 - 1
    np.testing.assert_array_equal(inc.to_inception_input(x), expect.astype(np.float32))
    u = np.arange(256, dtype=np.uint8)
    v = u.astype(np.float64) / 255.0 * 2.0 - 1.0
    np.testing.assert_array_equal(
        inc.to_inception_input(u), (((v + 1) / 2 * 255) / 255 * 2 - 1).astype(np.float32)
    )


def test_graph_sees_tf1_resized_input(graph_path):
    graph = inc.InceptionGraph.from_file(graph_path, batch_size=4)
    images = Generator()(6)
    logits, pool = graph.run(images)
    assert logits.shape == (6, 1008) and pool.shape == (6, 16)
    x = inc.to_inception_input(images).astype(np.float64)
    expect = np.stack([resize_tf1_numpy(im, 299).mean(axis=(0, 1)) for im in x])
    np.testing.assert_allclose(pool[:, :3], expect, atol=2e-6)


def test_out_of_range_samples_are_an_error(graph_path):
    bad = Generator()
    callbacks = build_metrics(small_config(inception_graph=graph_path))
    ctx = make_context(sample=lambda n: bad(n) * 1.5)
    for cb in callbacks:
        cb.setup(ctx)
    with pytest.raises(ValueError, match=r"min -1\.\d+, max 1\.\d+"):
        callbacks[0].evaluate(ctx, 0)
    with pytest.raises(ValueError, match="nan"):
        inc.check_range(np.float32([0.0, np.nan]))


# -- IS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.1, 3.0, 40.0])
def test_split_score_is_tfgans_classifier_score(scale):
    logits = np.random.default_rng(4).normal(size=(57, 1000)) * scale
    expected = float(tfgan_eval().classifier_score_from_logits(logits))
    assert inc.split_score(logits) == pytest.approx(expected, rel=1e-12)
    # Rows taken in blocks of 10 (the last one partial) or one at a time give the same score.
    assert inc.split_score(logits, block=10) == pytest.approx(expected, rel=1e-12)
    assert inc.split_score(logits, block=1) == pytest.approx(expected, rel=1e-12)
    # float32 logits: tfgan computes in float64 too but rounds its result to float32.
    assert inc.split_score(logits.astype(np.float32)) == pytest.approx(
        float(tfgan_eval().classifier_score_from_logits(logits.astype(np.float32))), rel=1e-7
    )


def test_is_of_identical_logits_is_one():
    logits = np.tile(np.random.default_rng(0).normal(size=(1, 1000)), (50, 1))
    mean, std = inc.inception_score(logits, 5)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_is_of_k_equally_used_classes_is_k():
    k, per_class, splits = 7, 4, 4
    labels = np.tile(np.repeat(np.arange(k), per_class), splits)  # every split holds each class
    logits = 60.0 * np.eye(1000)[labels]
    mean, std = inc.inception_score(logits, splits)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_is_splits_and_population_std_as_the_original():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(103, 1000)) * 3
    mean, std = inc.inception_score(logits, 10)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(10):
        part = p[i * 103 // 10 : (i + 1) * 103 // 10]
        kl = (part * (np.log(part) - np.log(part.mean(0, keepdims=True)))).sum(1).mean()
        scores.append(np.exp(kl))
    assert mean == pytest.approx(np.mean(scores), rel=1e-9)
    assert std == pytest.approx(np.std(scores), rel=1e-7)


def test_is_callback_reads_first_1000_logits(graph_path):
    cfg = small_config(metrics=["inception_score"], inception_graph=graph_path)
    values = evaluate_all(build_metrics(cfg), make_context(sample=Generator(seed=5)))
    logits, _ = inc.InceptionGraph.from_file(graph_path).run(Generator(seed=5)(40))
    mean, std = inc.inception_score(logits[:, :1000], 4)
    assert values["inception_score_mean"] == pytest.approx(mean, rel=1e-6)
    assert values["inception_score_std"] == pytest.approx(std, rel=1e-4, abs=1e-9)
    assert inc.inception_score(logits, 4)[0] != pytest.approx(mean, rel=1e-6)


# -- FID --------------------------------------------------------------------------------------


def exact_moments(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> np.ndarray:
    """Samples whose sample mean and unbiased sample covariance are exactly mean and cov."""
    z = np.random.default_rng(seed).normal(size=(n, len(mean)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False)).T)
    return mean + z @ np.linalg.cholesky(cov).T


def fid_scipy(a: np.ndarray, b: np.ndarray) -> float:
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * root))


def test_fid_of_gaussians_matches_closed_form_and_scipy():
    d = 6
    m1, m2 = np.linspace(0, 1, d), np.linspace(1, -1, d)
    v1, v2 = np.linspace(0.5, 2, d), np.linspace(3, 0.2, d)
    a = exact_moments(400, m1, np.diag(v1), 0)
    b = exact_moments(300, m2, np.diag(v2), 1)
    closed = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert inc.frechet_distance(a, b) == pytest.approx(closed, rel=1e-4)
    assert fid_scipy(a, b) == pytest.approx(closed, rel=1e-6)
    rng = np.random.default_rng(2)
    r1, r2 = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    a = exact_moments(500, m1, r1 @ r1.T + 0.1 * np.eye(d), 3)
    b = exact_moments(500, m2, r2 @ r2.T + 0.1 * np.eye(d), 4)
    assert inc.frechet_distance(a, b) == pytest.approx(fid_scipy(a, b), rel=1e-4)


def test_fid_of_a_set_against_itself_is_zero(graph_path):
    a = np.random.default_rng(0).normal(size=(200, 16))
    assert abs(inc.frechet_distance(a, a)) < 1e-8
    real = real_set(40)
    as_generated = (real.astype(np.float32) / 127.5 - 1).astype(np.float32)
    cfg = small_config(
        metrics=["fid"], fid_num_samples=40, fid_num_real=40, inception_graph=graph_path
    )
    callbacks = build_metrics(cfg)
    values = evaluate_all(callbacks, make_context(real, Generator(images=as_generated)))
    act = callbacks[0].runner.real_activations.astype(np.float64)
    # The stub's features barely vary (trace ~0.03); the square roots leave a tiny residue.
    assert values["fid"] == pytest.approx(inc.frechet_distance(act, act), abs=1e-8)
    assert abs(values["fid"]) < 2e-3 * np.trace(np.cov(act, rowvar=False))


def test_fid_real_subset_survives_resume(graph_path):
    cfg = small_config(inception_graph=graph_path)
    first = build_metrics(cfg)
    values = evaluate_all(first, make_context(seed=0, sample=Generator(seed=9)))
    state = [cb.state_arrays() for cb in first]
    assert list(state[1]) == ["fid_real_indices"] and state[0] == {}
    assert len(np.unique(state[1]["fid_real_indices"])) == 32

    resumed = build_metrics(cfg)
    ctx = make_context(seed=123, sample=Generator(seed=9))
    for cb, saved in zip(resumed, state, strict=True):
        cb.setup(ctx)
        cb.load_state_arrays(saved)
    np.testing.assert_array_equal(resumed[1].runner.real_indices, state[1]["fid_real_indices"])
    again = {k: v for cb in resumed for k, v in cb.evaluate(ctx, 0).items()}
    assert again == pytest.approx(values, rel=1e-6)

    fresh = build_metrics(cfg)
    other = evaluate_all(fresh, make_context(seed=123, sample=Generator(seed=9)))
    assert other["fid"] != pytest.approx(values["fid"], rel=1e-6)


def test_streamed_real_subset_keeps_its_features(graph_path):
    cfg = small_config(metrics=["fid"], inception_graph=graph_path)
    first = build_metrics(cfg)
    values = evaluate_all(first, make_context(streamed=True, sample=Generator(seed=4)))
    state = first[0].state_arrays()
    assert state["fid_real_activations"].shape == (32, 16)
    resumed = build_metrics(cfg)
    ctx = make_context(streamed=True, seed=77, sample=Generator(seed=4))
    resumed[0].setup(ctx)
    resumed[0].load_state_arrays(state)
    assert resumed[0].evaluate(ctx, 0) == pytest.approx(values, rel=1e-6)


def test_is_and_fid_share_one_pass_of_samples(graph_path):
    gen = Generator()
    cfg = small_config(metrics=["inception_score", "fid", "kid"], inception_graph=graph_path)
    callbacks = build_metrics(cfg)
    assert len({id(cb.runner) for cb in callbacks}) == 1
    values = evaluate_all(callbacks, make_context(sample=gen))
    assert gen.done == 48  # max(is_num_samples, fid_num_samples), not their sum
    assert set(values) == {"inception_score_mean", "inception_score_std", "fid", "kid"}
    assert all(math.isfinite(v) for v in values.values())
    assert callbacks[0].runner._cache == {}


# -- where the graph comes from ---------------------------------------------------------------


def test_graph_from_config_env_and_cache(graph_path, tmp_path, monkeypatch):
    assert inc.find_inception_graph(graph_path) == graph_path
    monkeypatch.setenv("BSN_INCEPTION_GRAPH", graph_path)
    assert inc.find_inception_graph(None) == graph_path
    values = evaluate_all(build_metrics(small_config()), make_context())
    assert all(math.isfinite(v) for v in values.values())
    monkeypatch.delenv("BSN_INCEPTION_GRAPH")
    cached = tmp_path / "cache" / inc.INCEPTION_PB
    cached.parent.mkdir()
    cached.write_bytes(open(graph_path, "rb").read())
    assert inc.find_inception_graph(None) == str(cached)


def test_missing_graph_is_a_clear_error(tmp_path):
    with pytest.raises(inc.InceptionUnavailable) as err:
        inc.find_inception_graph(None)
    message = str(err.value)
    assert inc.INCEPTION_PB in message and str(tmp_path / "cache") in message
    assert "inception_graph" in message and "BSN_INCEPTION_GRAPH" in message
    assert not (tmp_path / "cache" / inc.INCEPTION_PB).exists()
    with pytest.raises(inc.InceptionUnavailable, match="no such file"):
        inc.find_inception_graph(str(tmp_path / "missing.pb"))
    callbacks = build_metrics(small_config())
    with pytest.raises(inc.InceptionUnavailable):
        callbacks[0].setup(make_context())


def test_missing_graph_skip_mode_reports_nan():
    def no_sampling(n):
        raise AssertionError("sampled without a graph")

    cfg = small_config(metrics=["inception_score", "fid", "kid"], on_missing_inception="skip")
    callbacks = build_metrics(cfg)
    values = evaluate_all(callbacks, make_context(sample=no_sampling))
    assert [c for cb in callbacks for c in cb.columns()] == [
        "inception_score_mean",
        "inception_score_std",
        "fid",
        "kid",
    ]
    assert list(values) == ["inception_score_mean", "inception_score_std", "fid", "kid"]
    assert all(math.isnan(v) for v in values.values())
    assert "fid_real_indices" in callbacks[1].state_arrays()


def tarball(path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path.as_uri()


def test_download_extracts_checks_and_caches(graph_path, tmp_path, monkeypatch):
    pb = open(graph_path, "rb").read()
    url = tarball(tmp_path / "frozen.tar.gz", {inc.INCEPTION_PB: pb, "LICENSE": b"x"})
    monkeypatch.setenv("BSN_INCEPTION_URL", url)
    path = inc.find_inception_graph(None)
    assert path == str(tmp_path / "cache" / inc.INCEPTION_PB)
    assert open(path, "rb").read() == pb
    assert os.listdir(tmp_path / "cache") == [inc.INCEPTION_PB]
    os.remove(tmp_path / "frozen.tar.gz")
    assert inc.find_inception_graph(None) == path  # cached: no second download


def test_download_rejects_a_wrong_file(tmp_path, monkeypatch):
    other = tf.compat.v1.GraphDef()
    other.node.add(name="Mul", op="NoOp")
    url = tarball(tmp_path / "bad.tar.gz", {inc.INCEPTION_PB: other.SerializeToString()})
    monkeypatch.setenv("BSN_INCEPTION_URL", url)
    with pytest.raises(inc.InceptionUnavailable, match="logits:0, pool_3:0"):
        inc.find_inception_graph(None)
    url = tarball(tmp_path / "empty.tar.gz", {"other.pb": b""})
    monkeypatch.setenv("BSN_INCEPTION_URL", url)
    with pytest.raises(inc.InceptionUnavailable, match="could not download"):
        inc.find_inception_graph(None)
    assert not os.listdir(tmp_path / "cache")


# -- registry ---------------------------------------------------------------------------------


def test_registry_names_columns_and_errors():
    assert metric_columns(["inception_score", "fid"]) == [
        "inception_score_mean",
        "inception_score_std",
        "fid",
    ]
    callbacks = build_metrics(run_config())
    assert [c for cb in callbacks for c in cb.columns()] == [
        "inception_score_mean",
        "inception_score_std",
        "fid",
    ]
    assert callbacks[0].num_samples == 50000 and callbacks[0].num_splits == 10
    assert callbacks[1].num_samples == 10000 and callbacks[1].runner.num_real == 5000
    order = build_metrics(run_config(metrics=["swd", "fid", "kid", "inception_score"]))
    assert [c for cb in order for c in cb.columns()] == [
        "swd",
        "fid",
        "kid",
        "inception_score_mean",
        "inception_score_std",
    ]
    with pytest.raises(ConfigError, match="'sfid'.*inception_score, fid, kid, swd"):
        build_metrics(run_config(metrics=["fid", "sfid"]))
    with pytest.raises(ConfigError, match="more than once"):
        build_metrics(run_config(metrics=["fid", "fid"]))
    assert build_metrics(run_config(metrics=[])) == []


# -- memory-saving paths give the same numbers ------------------------------------------------


def test_weights_fed_as_tensors_give_the_graph_with_constants_outputs(graph_path):
    graph_def = inc.load_inception_graph_def(graph_path)
    images = Generator(seed=7)(5)
    x = tf.constant(inc.to_inception_input(images))

    def direct(t):
        return tf.compat.v1.import_graph_def(
            graph_def,
            input_map={inc.INCEPTION_INPUT: inc.resize_tf1(t)},
            return_elements=[inc.INCEPTION_LOGITS, inc.INCEPTION_POOL],
            name="direct",
        )

    expect_logits, expect_pool = tf.compat.v1.wrap_function(
        direct, [tf.TensorSpec([None, None, None, 3], tf.float32)]
    )(x)
    split_def, weights = inc.split_weights(inc.load_inception_graph_def(graph_path))
    assert weights and all(w.size >= inc.WEIGHT_MIN_ELEMENTS for w in weights.values())
    left = [
        n
        for n in split_def.node
        if n.op == "Const"
        and tf.TensorShape([d.size for d in n.attr["value"].tensor.tensor_shape.dim]).num_elements()
        >= inc.WEIGHT_MIN_ELEMENTS
    ]
    assert not left  # no weight is held as a constant any more
    assert "input" not in {n.name for n in split_def.node}  # what fed Mul is pruned
    logits, pool = inc.InceptionGraph(graph_def, batch_size=2).run(images)
    np.testing.assert_allclose(logits, expect_logits.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(pool, expect_pool.numpy().reshape(5, -1), rtol=1e-6, atol=1e-6)


def test_parked_weights_rebuild_the_graph_at_each_evaluation(graph_path, tmp_path):
    # A file left by a process that no longer exists is cleaned up; the runner's own file
    # holds the weights for the run: each evaluation builds the graph from it, release drops
    # the graph, and the file goes when the runner does.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{inc.SPILL_PREFIX}{dead.pid}.x.npz"
    stale.write_bytes(b"left by a killed run")
    cfg = small_config(metrics=["inception_score", "fid"], inception_graph=graph_path)
    callbacks = build_metrics(cfg)
    ctx = dataclasses.replace(make_context(sample=Generator(seed=3)), run_dir=str(tmp_path))
    for cb in callbacks:
        cb.setup(ctx)
    parked = [p for p in tmp_path.iterdir() if p.name.startswith(inc.SPILL_PREFIX)]
    assert [p.name.split(".")[2] for p in parked] == [str(os.getpid())]
    expected = dict(inc.split_weights(inc.load_inception_graph_def(graph_path))[1])
    with np.load(parked[0]) as spilled:
        assert sorted(spilled) == sorted(expected)
        for name, w in expected.items():
            np.testing.assert_array_equal(spilled[name], w)
    values = callbacks[0].evaluate(ctx, 0)
    runner = callbacks[0].runner
    built = runner.graph
    for cb in callbacks:
        cb.release()
    assert runner._graph is None and parked[0].exists()
    ctx_again = dataclasses.replace(ctx, sample=Generator(seed=3))
    assert callbacks[0].evaluate(ctx_again, 1) == values
    assert runner.graph is not built
    images = Generator(seed=3)(cfg.is_num_samples)
    logits, _ = inc.InceptionGraph.from_file(graph_path).run(images)
    scores = [inc.split_score(logits[a:b, :1000]) for a, b in inc.split_bounds(len(images), 4)]
    assert values["inception_score_mean"] == pytest.approx(np.mean(scores), rel=1e-6)
    del callbacks, cb, runner, built
    gc.collect()
    assert not any(p.name.startswith(inc.SPILL_PREFIX) for p in tmp_path.iterdir())


@pytest.mark.parametrize("chunk", [7, 10, 1024])
def test_streamed_is_splits_and_fid_features_equal_the_whole_pass(graph_path, chunk):
    # 43 IS samples in 4 splits (10, 11, 11, 11) and 25 FID samples, in chunks that cut
    # through splits (7), end on split borders (10) or hold everything (1024).
    cfg = small_config(
        metrics=["inception_score", "fid"],
        inception_graph=graph_path,
        is_num_samples=43,
        is_num_splits=4,
        fid_num_samples=25,
    )
    callbacks = build_metrics(cfg)
    runner = callbacks[0].runner
    runner.chunk_images = chunk
    images = Generator(seed=9)(43)
    ctx = make_context(sample=Generator(images=images))
    for cb in callbacks:
        cb.setup(ctx)
    out = runner.generated(ctx, 0, callbacks[0])
    logits, pool = inc.InceptionGraph.from_file(graph_path).run(images)
    scores = [inc.split_score(logits[a:b, :1000]) for a, b in inc.split_bounds(43, 4)]
    np.testing.assert_allclose(out["is_scores"], scores, rtol=1e-6)
    assert "fid_pool" not in out  # FID alone reads only the moments
    mean, cov = out["fid_moments"].mean_and_covariance()
    np.testing.assert_allclose(mean, pool[:25].astype(np.float64).mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        cov, np.cov(pool[:25].astype(np.float64), rowvar=False), rtol=1e-5, atol=1e-7
    )
    assert [b - a for a, b in inc.split_bounds(43, 4)] == [10, 11, 11, 11]


def test_kid_keeps_the_generated_features_and_fid_gives_the_same_value(graph_path):
    cfg = small_config(
        metrics=["fid", "kid"], inception_graph=graph_path, fid_num_samples=20, fid_num_real=30
    )
    callbacks = build_metrics(cfg)
    runner = callbacks[0].runner
    runner.chunk_images = 8
    ctx = make_context(real=real_set(60, seed=4), sample=Generator(seed=5))
    for cb in callbacks:
        cb.setup(ctx)
    out = runner.generated(ctx, 0, callbacks[0])
    assert len(out["fid_pool"]) == 20
    kid_only = inc.InceptionRunner(run_config())
    kid.KernelInceptionDistance(kid_only, 20)
    assert kid_only.keep_features and not kid_only.keep_moments
    streamed = callbacks[0].evaluate(ctx, 0)["fid"]
    assert streamed == pytest.approx(
        inc.frechet_distance(runner.real_pool(ctx), out["fid_pool"]), rel=1e-9
    )


def test_fid_on_fewer_samples_than_the_pass_reads_its_own_count(graph_path):
    runner = inc.InceptionRunner(run_config(inception_graph=graph_path, metric_batch_size=16))
    small = inc.FrechetInceptionDistance(runner, 10, num_real=30)
    large = inc.FrechetInceptionDistance(runner, 20, num_real=30)
    assert runner.keep_features
    ctx = make_context(real=real_set(60, seed=4), sample=Generator(seed=5))
    for cb in (small, large):
        cb.setup(ctx)
    values = small.evaluate(ctx, 0)["fid"], large.evaluate(ctx, 0)["fid"]
    images = Generator(seed=5)(20)
    _, pool = inc.InceptionGraph.from_file(graph_path).run(images)
    real = runner.real_pool(ctx)
    assert values == pytest.approx(
        (inc.frechet_distance(real, pool[:10]), inc.frechet_distance(real, pool)), rel=1e-6
    )


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_feature_moments_in_chunks_equal_the_two_pass_mean_and_covariance(offset):
    # A large common offset is where a one-pass sum of x x^T would lose digits.
    rows = np.random.default_rng(1).normal(size=(101, 6)) * [1, 2, 3, 0.5, 1e-3, 0] + offset
    moments = inc.FeatureMoments()
    for start in range(0, 101, 17):
        moments.add(rows[start : start + 17])
    mean, cov = moments.mean_and_covariance()
    assert moments.count == 101
    np.testing.assert_allclose(mean, rows.mean(0), rtol=1e-14, atol=0)
    np.testing.assert_allclose(cov, np.cov(rows, rowvar=False), rtol=1e-9, atol=1e-12)


def test_feature_moments_need_two_rows():
    moments = inc.FeatureMoments()
    moments.add(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="at least 2 samples"):
        moments.mean_and_covariance()


def test_inception_batch_is_16_on_the_cpu_unless_configured():
    assert inc.inception_batch_size(0, 64) == 16
    assert inc.inception_batch_size(40, 64) == 40
    assert inc.InceptionRunner(run_config(inception_batch_size=40)).inception_batch_size == 40


@pytest.mark.parametrize("n1,n2,dead", [(300, 200, 0.0), (300, 250, 0.2), (40, 30, 0.1)])
def test_fid_agrees_with_tfgans_function(n1, n2, dead):
    # ReLU-like features with dead (constant zero) dimensions; the last case has fewer samples
    # than dimensions, so both covariances are singular (tfgan's unrooted-below-1e-10 rule).
    rng = np.random.default_rng(int(n1 + 10 * dead))
    w = rng.normal(size=(8, 64)) * (rng.random(64) >= dead)
    a = np.maximum(rng.normal(size=(n1, 8)) @ w * 0.3 + 0.1, 0).astype(np.float32)
    b = np.maximum(rng.normal(size=(n2, 8)) @ w * 0.35 + 0.12, 0).astype(np.float32)
    tfgan = float(
        tfgan_eval().frechet_classifier_distance_from_activations(
            tf.constant(a, tf.float64), tf.constant(b, tf.float64)
        )
    )
    assert inc.frechet_distance(a, b) == pytest.approx(tfgan, rel=1e-9)
    assert inc.frechet_distance(a, b, chunk=7) == pytest.approx(tfgan, rel=1e-9)


def test_module_entry_point_prints_the_graph_or_one_error_line(graph_path, monkeypatch, capsys):
    from gan.metrics.inception import __main__ as entry

    with pytest.raises(SystemExit) as exc:
        entry.main()  # nothing cached, the download fails
    assert str(exc.value).startswith("error: could not download the Inception graph")
    monkeypatch.setenv("BSN_INCEPTION_GRAPH", graph_path)
    entry.main()
    assert capsys.readouterr().out.strip() == graph_path
