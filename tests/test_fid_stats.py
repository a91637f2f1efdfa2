"""``main.py fid_stats``: fixed FID reference statistics, and a FID against them."""

import os

import numpy as np

from gan.metrics.fid_stats_file import read_stats
from gan.metrics.inception import InceptionGraph, frechet_distance
from gan.metrics.inception.fid_against_stats import FixedMoments
from gan.shapes import shapes_images
from tests.after_training import assert_one_error_line, cli


def test_fid_stats_are_the_dataset_features_moments_under_ttur_names(tmp_path, stub_graph):
    root = str(tmp_path)
    assert (
        cli(
            "fid_stats",
            "--dataset",
            "shapes",
            "--num",
            "64",
            "--data_root",
            root,
            "--inception_graph",
            stub_graph,
        )
        == 0
    )
    path = os.path.join(root, "fid_stats", "shapes-stub-64.npz")
    with np.load(path) as d:
        mu, sigma = d["mu"], d["sigma"]
    assert mu.dtype == sigma.dtype == np.float64 and mu.shape == (16,)
    assert sigma.shape == (16, 16)
    images = shapes_images()
    subset = images[np.sort(np.random.default_rng(0).choice(len(images), 64, replace=False))]
    features = InceptionGraph.from_file(stub_graph, 16).run(subset)[1].astype(np.float64)
    np.testing.assert_allclose(mu, features.mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False), rtol=1e-7, atol=1e-12)
    # Zero up to the round-off of the matrix square root (tfgan's rule) on 64 samples.
    assert abs(frechet_distance(FixedMoments(mu, sigma), features)) < 1e-3
    # An existing file is kept unless --overwrite.
    assert (
        cli(
            "fid_stats",
            "--dataset",
            "shapes",
            "--num",
            "64",
            "--data_root",
            root,
            "--inception_graph",
            stub_graph,
        )
        == 2
    )


def test_evaluate_with_a_fid_reference(own_trained_run, tmp_path, stub_graph):
    """The FID column is against the reference's moments: with the generated samples fixed,
    moving the reference mean by +d and -d changes the FID by the formula's
    FID(m + d) + FID(m - d) - 2 FID(m) = 2 |d|^2 (the covariance terms cancel)."""
    import csv

    ref = str(tmp_path / "ref.npz")
    assert (
        cli(
            "fid_stats",
            "--dataset",
            "shapes",
            "--num",
            "64",
            "--out",
            ref,
            "--inception_graph",
            stub_graph,
        )
        == 0
    )
    mu, sigma = read_stats(ref)
    d = np.linspace(-0.5, 1.0, len(mu))
    refs = [ref, str(tmp_path / "plus.npz"), str(tmp_path / "minus.npz")]
    np.savez(refs[1], mu=mu + d, sigma=sigma)
    np.savez(refs[2], mu=mu - d, sigma=sigma)
    for path in refs:
        assert (
            cli(
                "evaluate",
                own_trained_run,
                "--metrics",
                "fid",
                "--fid_reference",
                path,
                "--seed",
                "21",
            )
            == 0
        )
    with open(os.path.join(own_trained_run, "eval", "metrics.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r["sample_seed"] == "21"]
    assert [r["fid_reference"] for r in rows] == refs
    base, plus, minus = (float(r["fid"]) for r in rows)
    assert np.isfinite(base) and len({base, plus, minus}) == 3
    np.testing.assert_allclose(plus + minus - 2 * base, 2 * np.sum(d**2), rtol=1e-6)


def test_a_reference_of_the_wrong_dimension_is_one_error_line(trained_run, tmp_path, capsys):
    ref = str(tmp_path / "ttur.npz")
    np.savez(ref, mu=np.zeros(2048), sigma=np.eye(2048))  # real Inception's size, stub has 16
    assert read_stats(ref)[0].shape == (2048,)
    assert_one_error_line(
        capsys,
        cli("evaluate", trained_run, "--metrics", "fid", "--fid_reference", ref),
        ref,
        "dimension 2048",
        "16",
    )
    np.savez(ref, mu=np.zeros(3), sigma=np.eye(2))
    assert_one_error_line(
        capsys,
        cli("evaluate", trained_run, "--metrics", "fid", "--fid_reference", ref),
        ref,
        "sigma",
    )


def test_fid_stats_bad_input_is_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BSN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BSN_INCEPTION_URL", "file:///nonexistent/inception.tgz")
    monkeypatch.delenv("BSN_INCEPTION_GRAPH", raising=False)
    line = assert_one_error_line(
        capsys, cli("fid_stats", "--dataset", "shapes", "--data_root", str(tmp_path)), "put it at"
    )
    assert str(tmp_path / "cache") in line
    assert_one_error_line(capsys, cli("fid_stats", "--dataset", "mnist"), "mnist")
    assert_one_error_line(capsys, cli("fid_stats", "--dataset", "shapes", "--num", "0"), "--num 0")
    assert_one_error_line(capsys, cli("fid_stats"), "--dataset")
    assert not os.path.exists(tmp_path / "fid_stats")
