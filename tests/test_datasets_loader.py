"""Tests of the streaming ImageNet loader (gan/imagenet.py) on a tiny folder of .npy files."""

from __future__ import annotations

import collections
import os

import numpy as np
import pytest
import tensorflow as tf

from datasets.common import DataError
from gan.imagenet import ImageNetFolder

# 3 classes, 7 files; every pixel of file k holds the value 30 * k + channel (channels differ).
LAYOUT = {"n001": ["a", "b"], "n002": ["c", "d", "e"], "n003": ["f", "g"]}


def image_value(k: int) -> np.ndarray:
    return np.broadcast_to(np.array([30 * k, 30 * k + 1, 30 * k + 2], np.uint8), (128, 128, 3))


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "ImageNet"
    k = 0
    for name, stems in LAYOUT.items():
        os.makedirs(root / name)
        for stem in stems:
            np.save(root / name / f"{stem}.npy", image_value(k))
            k += 1
    (root / "n002" / ".e.npy.x.part").write_bytes(b"leftover of a crash")
    (root / "notes.txt").write_text("not a class")
    return root


def file_ids(batch: np.ndarray) -> np.ndarray:
    """Which file each image of a float batch came from (from its red channel)."""
    red = np.round((batch[:, :, :, 0] + 1) / 2 * 255)
    assert (red == red[:, :1, :1]).all()
    return (red[:, 0, 0] / 30).astype(int)


def test_lists_files_and_checks_the_counts(folder, caplog):
    with pytest.raises(
        DataError,
        match=r"holds 3 classes and 7 images, expected 1000 and "
        r"1281167 .*allow_subset=True",
    ):
        ImageNetFolder(str(folder))
    with caplog.at_level("WARNING"):
        data = ImageNetFolder(str(folder), allow_subset=True)
    assert "holds 3 classes and 7 images" in caplog.text and "subset" in caplog.text
    assert (data.num_classes, data.num_images) == (3, 7)
    assert data.class_names == ["n001", "n002", "n003"]
    assert [os.path.relpath(f, folder) for f in data.files][:3] == [
        "n001/a.npy",
        "n001/b.npy",
        "n002/c.npy",
    ]
    ImageNetFolder(str(folder), expected_classes=3, expected_images=7)


def test_stream_shapes_range_and_sampling_with_replacement(folder):
    data = ImageNetFolder(str(folder), allow_subset=True)
    batches = list(data.dataset(batch_size=50, seed=3).take(6).as_numpy_iterator())
    for batch in batches:
        assert batch.shape == (50, 128, 128, 3) and batch.dtype == np.float32
        assert -1.0 <= batch.min() and batch.max() <= 1.0
    ids = np.concatenate([file_ids(b) for b in batches])
    np.testing.assert_allclose(batches[0][0], image_value(ids[0]) / 255.0 * 2.0 - 1.0, atol=1e-6)
    counts = collections.Counter(ids.tolist())
    assert sorted(counts) == list(range(7))  # every file drawn ...
    assert max(counts.values()) < 2 * 300 / 7  # ... about equally often
    assert len(set(file_ids(batches[0]).tolist())) < 50  # with replacement: repeats in a batch
    again = next(data.dataset(batch_size=50, seed=3).as_numpy_iterator())
    np.testing.assert_array_equal(again, batches[0])
    other = next(data.dataset(batch_size=50, seed=4).as_numpy_iterator())
    assert not np.array_equal(file_ids(other), file_ids(batches[0]))


def test_sample_uint8(folder):
    data = ImageNetFolder(str(folder), allow_subset=True)
    images = data.sample_uint8(40, np.random.default_rng(0))
    assert images.shape == (40, 128, 128, 3) and images.dtype == np.uint8
    assert set(images[:, 0, 0, 0] // 30) <= set(range(7))
    assert len(set(images[:, 0, 0, 0].tolist())) < 40
    np.save(folder / "n001" / "a.npy", np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(
        DataError,
        match=r"n001/a.npy holds uint8 \(64, 64, 3\); expected a "
        r"uint8 \(128, 128, 3\)",
    ):
        data.sample_uint8(100, np.random.default_rng(0))


@pytest.mark.parametrize("bad", ["float", "shape", "truncated", "garbage"])
def test_a_bad_file_stops_the_stream_naming_it(folder, bad):
    path = folder / "n003" / "g.npy"
    if bad == "float":
        np.save(path, np.zeros((128, 128, 3), np.float32))
    elif bad == "shape":
        np.save(path, np.zeros((128, 3, 128), np.uint8))
    elif bad == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        path.write_bytes(b"\x93NUM")
    data = ImageNetFolder(str(folder), allow_subset=True)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"expected a uint8 \(128, 128, 3\) .npy file.*n003/g.npy",
    ):
        for _ in data.dataset(batch_size=64, seed=0).take(3):
            pass


def test_missing_and_empty_folders(tmp_path, folder):
    with pytest.raises(
        DataError, match="does not exist: make it with `python -m datasets.imagenet`"
    ):
        ImageNetFolder(str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no class folders"):
        ImageNetFolder(str(empty))
    (folder / "n004").mkdir()
    with pytest.raises(DataError, match="class folder .*n004 holds no .npy images"):
        ImageNetFolder(str(folder), allow_subset=True)
