"""In-memory data loading: real formats in, uint8 NHWC out, clear errors for bad files."""

import os

import numpy as np
import pytest
import tensorflow as tf

from gan.dataset_files import DataError, ImageBank, check_images, load_images, to_unit_range


def test_cifar10_tarball_loads_as_nhwc_uint8_with_channels_in_order(cifar_root):
    root, expected = cifar_root
    data = load_images("cifar10", str(root))
    assert data.shape == (50000, 32, 32, 3) and data.dtype == np.uint8
    np.testing.assert_array_equal(data, expected)


def test_missing_dataset_file_names_the_path_and_the_script(tmp_path):
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz not found.*datasets/cifar10.py"):
        load_images("cifar10", str(tmp_path))
    with pytest.raises(DataError, match=r"stl10.npy not found"):
        load_images("stl10", str(tmp_path))


def test_truncated_tarball_is_a_clear_error(tmp_path, cifar_root):
    whole = cifar_root[0] / "CIFAR10" / "cifar-10-python.tar.gz"
    path = tmp_path / "CIFAR10" / "cifar-10-python.tar.gz"
    path.parent.mkdir()
    blob = whole.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="truncated"):
        load_images("cifar10", str(tmp_path))


@pytest.mark.parametrize("name,size", [("stl10", 48), ("celeba", 64)])
def test_npy_datasets_load_with_shape_and_dtype(tmp_path, name, size):
    folder = {"stl10": "STL10", "celeba": "CelebA"}[name]
    os.makedirs(tmp_path / folder)
    arr = np.random.default_rng(0).integers(0, 256, (7, size, size, 3), dtype=np.uint8)
    np.save(tmp_path / folder / f"{name}.npy", arr)
    np.testing.assert_array_equal(load_images(name, str(tmp_path)), arr)


def test_wrong_shape_dtype_or_range_is_rejected_with_the_file_name(tmp_path):
    os.makedirs(tmp_path / "STL10")
    path = tmp_path / "STL10" / "stl10.npy"
    np.save(path, np.zeros((3, 96, 96, 3), np.uint8))
    with pytest.raises(DataError, match=r"stl10.npy: array of shape \(3, 96, 96, 3\)"):
        load_images("stl10", str(tmp_path))
    np.save(path, np.zeros((3, 48, 48, 3), np.int32))
    with pytest.raises(DataError, match="dtype int32"):
        load_images("stl10", str(tmp_path))
    with pytest.raises(DataError, match=r"must lie in \[-1, 1\]"):
        check_images(np.full((2, 48, 48, 3), 2.0, np.float32), "x.npy", 48)
    path.write_bytes(b"not an npy file")
    with pytest.raises(DataError, match="not a readable .npy"):
        load_images("stl10", str(tmp_path))


def test_unit_range_mapping_is_x_over_255_times_2_minus_1():
    x = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_allclose(to_unit_range(x).numpy(), [[-1.0, 51 / 255 * 2 - 1, 1.0]], rtol=1e-6)


@pytest.mark.parametrize("chunk", [3, 4, 100])
def test_image_bank_holds_a_memory_mapped_npy_exactly_across_chunk_boundaries(tmp_path, chunk):
    images = np.random.default_rng(1).integers(0, 256, (10, 48, 48, 3), dtype=np.uint8)
    (tmp_path / "STL10").mkdir()
    np.save(tmp_path / "STL10" / "stl10.npy", images)
    loaded = load_images("stl10", str(tmp_path))
    assert isinstance(loaded, np.memmap)  # read through the file, never copied whole
    bank = ImageBank(loaded, chunk=chunk)
    assert len(bank) == 10 and bank.shape == images.shape and bank.dtype == np.uint8
    np.testing.assert_array_equal(bank[np.arange(10)], images)
    np.testing.assert_array_equal(bank[np.array([7, 0, 7])], images[[7, 0, 7]])
    np.testing.assert_array_equal(bank.gather([9, 2]).numpy(), images[[9, 2]])


def test_image_bank_copies_in_memory_and_float_arrays(tmp_path):
    images = np.random.default_rng(2).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    bank = ImageBank(images, chunk=2)
    images_copy = images.copy()
    images[:] = 0  # the bank is a copy: the caller's array may be dropped or reused
    np.testing.assert_array_equal(bank[np.arange(7)], images_copy)
    floats = np.linspace(-1, 1, 5 * 4 * 4 * 3, dtype=np.float64).reshape(5, 4, 4, 3)
    fbank = ImageBank(floats, chunk=2)
    assert fbank.dtype == np.float32
    np.testing.assert_allclose(fbank[np.arange(5)], floats.astype(np.float32))


def test_image_bank_reports_a_file_that_shrank_after_it_was_mapped(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((6, 4, 4, 3), np.uint8))
    mapped = np.load(path, mmap_mode="r")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 10)
    with pytest.raises(DataError, match="x.npy: file ends early"):
        ImageBank(mapped, chunk=4)


def test_image_bank_is_read_by_tensorflow_in_place_without_a_copy():
    images = np.random.default_rng(3).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    bank = ImageBank(images, chunk=4)
    assert bank.array.ctypes.data % ImageBank.ALIGNMENT == 0
    bank.array[4, 0, 0, 0] = 255 - bank.array[4, 0, 0, 0]  # seen by TensorFlow: one buffer
    np.testing.assert_array_equal(bank.gather([4]).numpy(), bank.array[[4]])
    gather = tf.function(lambda i: bank.gather(i))
    np.testing.assert_array_equal(gather(tf.constant([4, 1])).numpy(), bank.array[[4, 1]])
