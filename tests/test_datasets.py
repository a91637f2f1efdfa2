"""Tests of the dataset scripts (datasets/): tiny archives in the real formats, made here."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from datasets import celeba, cifar10, common, imagenet, stl10
from datasets.common import DataError
from gan.config import REPO_ROOT
from tests.helpers import offline_env

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


# ---------------------------------------------------------------------------------------------
# Independent references


def reference_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """OpenCV's INTER_LINEAR in float64: src = (dst + 0.5) * scale - 0.5, clamped to the image."""

    def axis(n_src: int, n_dst: int):
        pos = np.clip((np.arange(n_dst) + 0.5) * (n_src / n_dst) - 0.5, 0, n_src - 1)
        i0 = np.floor(pos).astype(int)
        return i0, np.minimum(i0 + 1, n_src - 1), pos - i0

    y0, y1, ty = axis(image.shape[0], height)
    x0, x1, tx = axis(image.shape[1], width)
    img = image.astype(np.float64)
    tx = tx[None, :, None]
    top = img[y0][:, x0] * (1 - tx) + img[y0][:, x1] * tx
    bottom = img[y1][:, x0] * (1 - tx) + img[y1][:, x1] * tx
    return top * (1 - ty)[:, None, None] + bottom * ty[:, None, None]


def assert_close_to_reference(out: np.ndarray, image: np.ndarray) -> None:
    """OpenCV rounds a fixed-point computation: at most 1 level from the exact value."""
    ref = reference_resize(image, out.shape[0], out.shape[1])
    assert out.dtype == np.uint8
    assert np.abs(out - ref).max() <= 1.0


def pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An image whose three channels differ (ramps down, across, and noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [
            y * 255 // max(height - 1, 1),
            x * 255 // max(width - 1, 1),
            rng.integers(0, 256, (height, width)),
        ],
        -1,
    ).astype(np.uint8)


def blocks(height: int, width: int) -> np.ndarray:
    """Top half red, bottom-left green, bottom-right blue: shows the channel order."""
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2] = RED
    image[height // 2 :, : width // 2] = GREEN
    image[height // 2 :, width // 2 :] = BLUE
    return image


def encode(image: np.ndarray, fmt: str = "JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def truncate(path: str, fraction: float = 0.5) -> None:
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * fraction))


def listing(folder: str) -> list[str]:
    return sorted(os.listdir(folder))


# ---------------------------------------------------------------------------------------------
# Resize, crop, decode, atomic output


@pytest.mark.parametrize(
    "src,dst",
    [
        ((218, 178), (64, 64)),
        ((37, 53), (128, 128)),
        ((375, 500), (128, 128)),
        ((128, 128), (64, 64)),
        ((96, 96), (48, 48)),
        ((5, 300), (17, 11)),
    ],
)
def test_resize_matches_opencv_formula(src, dst):
    image = pattern(*src, seed=sum(src))
    assert_close_to_reference(common.resize_bilinear(image, *dst), image)


def test_resize_golden_opencv_outputs():
    # sha256 of cv2.resize(image, (w, h)) from opencv-python-headless 4.10.0 and 5.0.0.
    i, j, c = np.meshgrid(np.arange(41), np.arange(67), np.arange(3), indexing="ij")
    image = ((i * 37 + j * 11 + c * 101 + (i * j) % 7 * 29) % 256).astype(np.uint8)
    golden = {
        (16, 23): "dd585d8d4086db809d86affa84ff4c57d3ff15a7683105560ff551ec1ad19e26",
        (128, 128): "102a886d6a817ff1d4ac416fc939ab19687d5f61de153bfa1d49a0bba04855c0",
        (20, 33): "11b31466913366bf3a225d2fda6170964563f8740eb8fda00c9cae2da2a3ed25",
    }
    for (h, w), digest in golden.items():
        out = common.resize_bilinear(image, h, w)
        assert hashlib.sha256(out.tobytes()).hexdigest() == digest, (h, w)


def test_resize_halving_is_rounded_2x2_mean_and_batches():
    images = np.stack([pattern(96, 96, seed=s) for s in range(3)])
    out = common.resize_bilinear(images, 48, 48)
    quads = images.astype(int).reshape(3, 48, 2, 48, 2, 3).sum(axis=(2, 4))
    np.testing.assert_array_equal(out, (quads + 2) // 4)  # OpenCV: (sum + 2) >> 2
    np.testing.assert_array_equal(out[1], common.resize_bilinear(images[1], 48, 48))


def test_resize_agrees_with_tf_bilinear_without_antialiasing():
    import tensorflow as tf

    image = pattern(333, 250)
    tf_out = tf.image.resize(image[None], (128, 128), "bilinear", antialias=False)[0].numpy()
    assert np.abs(common.resize_bilinear(image, 128, 128) - tf_out).max() <= 1.0


def test_center_crops_use_the_original_integer_offsets():
    image = np.arange(218 * 178).reshape(218, 178)
    np.testing.assert_array_equal(common.center_crop(image, 128, 128), image[45:173, 25:153])
    wide = np.arange(5 * 8).reshape(5, 8)
    np.testing.assert_array_equal(common.center_square_crop(wide), wide[:, 1:6])
    tall = np.arange(8 * 5).reshape(8, 5)
    np.testing.assert_array_equal(common.center_square_crop(tall), tall[1:6, :])
    with pytest.raises(ValueError, match="smaller than"):
        common.center_crop(wide, 6, 6)


def test_decode_gives_rgb_for_jpeg_png_grey_and_cmyk():
    image = blocks(40, 60)
    for data in (encode(image, quality=95), encode(image, "PNG")):
        out = common.decode_image(data, "x")
        assert out.shape == (40, 60, 3) and out.dtype == np.uint8
        assert np.abs(out[5, 5].astype(int) - RED).max() < 8
        assert np.abs(out[35, 5].astype(int) - GREEN).max() < 8
        assert np.abs(out[35, 55].astype(int) - BLUE).max() < 8
    grey = common.decode_image(encode(image[..., 1]), "x")
    assert grey.shape == (40, 60, 3) and (grey[..., 0] == grey[..., 2]).all()
    buffer = io.BytesIO()
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(buffer, "JPEG")
    cmyk = common.decode_image(buffer.getvalue(), "x")
    assert cmyk.shape == (8, 8, 3) and cmyk.min() >= 250  # no ink is white
    with pytest.raises(DataError, match="bad.jpg: not a readable image"):
        common.decode_image(b"\xff\xd8\xff\xe0 not really", "bad.jpg")


def test_atomic_output_leaves_nothing_on_failure_and_keeps_the_old_file(tmp_path):
    path = str(tmp_path / "out.npy")
    common.save_npy(path, np.zeros((2, 3), np.uint8))

    def failing():
        yield np.ones((2, 4, 4, 3), np.uint8)
        raise DataError("boom")

    with pytest.raises(DataError, match="boom"):
        common.write_npy_stream(path, failing(), (4, 4, 4, 3), "src")
    assert listing(tmp_path) == ["out.npy"]
    np.testing.assert_array_equal(np.load(path), np.zeros((2, 3), np.uint8))
    with pytest.raises(DataError, match="src holds 2 images, expected 4"):
        common.write_npy_stream(path, iter([np.ones((2, 4, 4, 3), np.uint8)]), (4, 4, 4, 3), "src")
    assert listing(tmp_path) == ["out.npy"]


def test_validate_npy_names_the_problem(tmp_path):
    path = str(tmp_path / "a.npy")
    np.save(path, np.zeros((3, 8, 8, 3), np.uint8))
    common.validate_npy(path, (3, 8, 8, 3))
    with pytest.raises(
        DataError,
        match=r"uint8 array of shape \(3, 8, 8, 3\), expected uint8 "
        r"\(4, 8, 8, 3\)",
    ):
        common.validate_npy(path, (4, 8, 8, 3))
    with pytest.raises(DataError, match="expected float32"):
        common.validate_npy(path, (3, 8, 8, 3), np.float32)
    truncate(path, 0.9)
    with pytest.raises(DataError, match="truncated"):
        common.validate_npy(path, (3, 8, 8, 3))
    with pytest.raises(DataError, match="does not exist"):
        common.validate_npy(str(tmp_path / "none.npy"), (1,))


# ---------------------------------------------------------------------------------------------
# CIFAR10


def cifar_batch(images: np.ndarray, labels: list[int]) -> dict:
    return {
        b"batch_label": b"training batch",
        b"labels": labels,
        b"data": images.transpose(0, 3, 1, 2).reshape(len(images), 3072),
        b"filenames": [b"x.png"] * len(images),
    }


def make_cifar_tarball(
    path: str,
    images: np.ndarray,
    labels: np.ndarray,
    per_batch: int,
    skip: int | None = None,
    bad_shape: bool = False,
) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for i in range(5):
            if i + 1 == skip:
                continue
            part = slice(i * per_batch, (i + 1) * per_batch)
            batch = cifar_batch(images[part], [int(x) for x in labels[part]])
            if bad_shape:
                batch[b"data"] = batch[b"data"][:, :1024]
            add_bytes(
                tar, f"cifar-10-batches-py/data_batch_{i + 1}", pickle.dumps(batch, protocol=2)
            )
        add_bytes(tar, "cifar-10-batches-py/readme.html", b"<html></html>")


@pytest.fixture
def cifar_data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    images[..., 0] = 200  # channels differ: R constant, G ramp
    images[..., 1] = np.arange(32)[None, None, :]
    return images, rng.integers(0, 10, 10)


def test_cifar10_checks_and_copies_then_skips(tmp_path, cifar_data, caplog):
    images, labels = cifar_data
    source, output = str(tmp_path / "dl.tar.gz"), str(tmp_path / "CIFAR10" / cifar10.ARCHIVE)
    make_cifar_tarball(source, images, labels, per_batch=2)
    read_images, read_labels = cifar10.read_train(source, images_per_batch=2)
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)
    cifar10.prepare_from_archive(source, output, images_per_batch=2)
    with open(source, "rb") as a, open(output, "rb") as b:
        assert a.read() == b.read()
    assert listing(tmp_path / "CIFAR10") == [cifar10.ARCHIVE]
    os.remove(source)  # a re-run needs nothing but the valid output
    with caplog.at_level("INFO", logger="absl"):  # absl's level may have been set by flags
        cifar10.prepare_from_archive(source, output, images_per_batch=2)
    assert "already there" in caplog.text


def test_cifar10_errors(tmp_path, cifar_data):
    images, labels = cifar_data
    path = str(tmp_path / "c.tar.gz")
    with pytest.raises(DataError, match="cifar-10-python.tar.gz and put it there"):
        cifar10.prepare_from_archive(path, str(tmp_path / "out.tar.gz"))
    make_cifar_tarball(path, images, labels, per_batch=2, skip=3)
    with pytest.raises(DataError, match="lacks cifar-10-batches-py/data_batch_3"):
        cifar10.read_train(path, images_per_batch=2)
    make_cifar_tarball(path, images, labels, per_batch=2, bad_shape=True)
    with pytest.raises(
        DataError,
        match=r"data_batch_1: b'data' is uint8 \(2, 1024\), "
        r"expected uint8 \(2, 3072\)",
    ):
        cifar10.read_train(path, images_per_batch=2)
    make_cifar_tarball(path, images, labels, per_batch=2)
    with pytest.raises(DataError, match=r"expected uint8 \(10000, 3072\)"):
        cifar10.read_train(path)
    truncate(path)
    with pytest.raises(DataError, match="truncated or not a .tar.gz"):
        cifar10.read_train(path, images_per_batch=2)


def test_cifar10_refuses_pickled_code(tmp_path):
    path = str(tmp_path / "c.tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        add_bytes(tar, "cifar-10-batches-py/data_batch_1", pickle.dumps(os.system))
    with pytest.raises(DataError, match="unexpected object"):
        cifar10.read_train(path)


# ---------------------------------------------------------------------------------------------
# STL10


def make_stl_tarball(path: str, images: np.ndarray) -> None:
    with tarfile.open(path, "w:gz") as tar:
        add_bytes(tar, "stl10_binary/class_names.txt", b"airplane\n")
        add_bytes(tar, stl10.MEMBER, images.transpose(0, 3, 2, 1).tobytes())  # column-major


def test_stl10_transposes_and_resizes(tmp_path, caplog):
    images = np.stack([pattern(96, 96, seed=s) for s in range(7)])
    images[3] = blocks(96, 96)
    source, output = str(tmp_path / "stl.tar.gz"), str(tmp_path / "STL10" / "stl10.npy")
    make_stl_tarball(source, images)
    stl10.prepare_from_archive(source, output, num_images=7)
    out = np.load(output)
    assert out.shape == (7, 48, 48, 3) and out.dtype == np.uint8
    for image, result in zip(images, out, strict=True):
        assert_close_to_reference(result, image)
    np.testing.assert_array_equal(out[3, 0, 0], RED)
    np.testing.assert_array_equal(out[3, 47, 0], GREEN)
    np.testing.assert_array_equal(out[3, 47, 47], BLUE)
    assert listing(tmp_path / "STL10") == ["stl10.npy"]
    mtime = os.stat(output).st_mtime_ns
    with caplog.at_level("INFO", logger="absl"):
        stl10.prepare_from_archive(str(tmp_path / "gone.tar.gz"), output, num_images=7)
    assert "already there" in caplog.text and os.stat(output).st_mtime_ns == mtime


def test_stl10_errors(tmp_path):
    source, output = str(tmp_path / "stl.tar.gz"), str(tmp_path / "stl10.npy")
    make_stl_tarball(source, np.zeros((3, 96, 96, 3), np.uint8))
    with pytest.raises(
        DataError,
        match=r"unlabeled_X.bin is 82944 bytes, expected 110592 "
        r"\(4 images",
    ):
        stl10.prepare_from_archive(source, output, num_images=4)
    truncate(source, 0.3)
    with pytest.raises(DataError, match="truncated or not a .tar.gz"):
        stl10.prepare_from_archive(source, output, num_images=3)
    assert not os.path.exists(output) and listing(tmp_path) == ["stl.tar.gz"]
    with tarfile.open(source, "w:gz") as tar:
        add_bytes(tar, "stl10_binary/train_X.bin", b"")
    with pytest.raises(DataError, match="lacks stl10_binary/unlabeled_X.bin"):
        stl10.prepare_from_archive(source, output, num_images=3)


# ---------------------------------------------------------------------------------------------
# CelebA


def make_celeba_zip(path: str, jpegs: list[bytes], names: list[str] | None = None) -> None:
    names = names or celeba.member_names(len(jpegs))
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in zip(names, jpegs, strict=True):
            archive.writestr(name, data)


@pytest.fixture
def celeba_jpegs():
    images = [pattern(218, 178, seed=s) for s in range(4)]
    images[1] = blocks(218, 178)
    return [encode(image, quality=90) for image in images]


@pytest.mark.parametrize("num_workers", [1, 2])
def test_celeba_crops_resizes_rgb(tmp_path, celeba_jpegs, num_workers):
    source, output = str(tmp_path / "celeba.zip"), str(tmp_path / "CelebA" / "celeba.npy")
    make_celeba_zip(source, celeba_jpegs)
    celeba.prepare_from_archive(source, output, num_images=4, num_workers=num_workers)
    out = np.load(output)
    assert out.shape == (4, 64, 64, 3) and out.dtype == np.uint8
    for data, result in zip(celeba_jpegs, out, strict=True):
        crop = decoded(data)[45:173, 25:153]  # (218 - 128) // 2, (178 - 128) // 2
        assert_close_to_reference(result, crop)
    # Rows 0..63 of the crop (image rows 45..108) are red, lower left green, lower right blue.
    assert np.abs(out[1, 10, 10].astype(int) - RED).max() < 8
    assert np.abs(out[1, 60, 5].astype(int) - GREEN).max() < 8
    assert np.abs(out[1, 60, 60].astype(int) - BLUE).max() < 8
    assert listing(tmp_path / "CelebA") == ["celeba.npy"]


def test_celeba_errors(tmp_path, celeba_jpegs):
    source, output = str(tmp_path / "celeba.zip"), str(tmp_path / "celeba.npy")
    make_celeba_zip(source, celeba_jpegs)
    with pytest.raises(
        DataError,
        match=r"lacks 1 of the 5 images .*first: "
        r"img_align_celeba/000005.jpg",
    ):
        celeba.prepare_from_archive(source, output, num_images=5)
    make_celeba_zip(source, [celeba_jpegs[0], celeba_jpegs[1][:300], celeba_jpegs[2]])
    with pytest.raises(DataError, match="img_align_celeba/000002.jpg: not a readable image"):
        celeba.prepare_from_archive(source, output, num_images=3)
    assert listing(tmp_path) == ["celeba.zip"]
    make_celeba_zip(source, [encode(pattern(100, 178))])
    with pytest.raises(DataError, match="000001.jpg: image is 100x178, expected at least"):
        celeba.prepare_from_archive(source, output, num_images=1)
    make_celeba_zip(source, celeba_jpegs)
    truncate(source, 0.7)
    with pytest.raises(DataError, match="truncated or not a zip"):
        celeba.prepare_from_archive(source, output, num_images=4)


# ---------------------------------------------------------------------------------------------
# ImageNet


def make_imagenet_tar(path: str, classes: dict[str, dict[str, bytes]]) -> None:
    with tarfile.open(path, "w") as outer:
        for name, images in classes.items():
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode="w") as tar:
                for image_name, data in images.items():
                    add_bytes(tar, image_name, data)
            add_bytes(outer, f"{name}.tar", inner.getvalue())


@pytest.fixture
def imagenet_classes():
    return {
        "n01": {
            "n01_1.JPEG": encode(pattern(150, 201, seed=1)),
            "n01_2.JPEG": encode(blocks(203, 150)),
            "n01_3.JPEG": encode(pattern(128, 128, seed=3)[..., 0]),  # greyscale
            "n01_4.JPEG": b"\xff\xd8\xff\xe0 corrupt",
        },
        "n02": {
            "n02_1.JPEG": encode(pattern(61, 97, seed=4), "PNG"),  # a PNG, upscaled
            "n02_2.JPEG": encode(pattern(500, 375, seed=5), quality=80),
        },
    }


def test_imagenet_writes_one_file_per_image_and_resumes(tmp_path, imagenet_classes):
    source, output = str(tmp_path / "train.tar"), str(tmp_path / "ImageNet")
    make_imagenet_tar(source, imagenet_classes)
    summary = imagenet.prepare(source, output)
    assert (summary.classes, summary.written, summary.existing) == (2, 5, 0)
    assert summary.failed == [f"{source}: n01.tar: n01_4.JPEG"]
    assert listing(output) == ["n01", "n02"]
    assert listing(os.path.join(output, "n01")) == ["n01_1.npy", "n01_2.npy", "n01_3.npy"]
    for name, images in imagenet_classes.items():
        for image_name, data in images.items():
            path = os.path.join(output, name, image_name.replace(".JPEG", ".npy"))
            if not os.path.exists(path):
                continue
            out = np.load(path)
            assert out.shape == (128, 128, 3) and out.dtype == np.uint8
            image = decoded(data)
            h, w = image.shape[:2]
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2  # the original's margins
            assert_close_to_reference(out, image[top : top + side, left : left + side])
    blocks_out = np.load(os.path.join(output, "n01", "n01_2.npy"))
    assert np.abs(blocks_out[5, 5].astype(int) - RED).max() < 8
    assert np.abs(blocks_out[120, 5].astype(int) - GREEN).max() < 8
    assert np.abs(blocks_out[120, 120].astype(int) - BLUE).max() < 8

    os.remove(os.path.join(output, "n02", "n02_1.npy"))
    mtime = os.stat(os.path.join(output, "n01", "n01_1.npy")).st_mtime_ns
    summary = imagenet.prepare(source, output, num_workers=2)
    assert (summary.written, summary.existing, len(summary.failed)) == (1, 4, 1)
    assert os.stat(os.path.join(output, "n01", "n01_1.npy")).st_mtime_ns == mtime
    assert listing(os.path.join(output, "n02")) == ["n02_1.npy", "n02_2.npy"]


def test_imagenet_errors(tmp_path, imagenet_classes):
    source, output = str(tmp_path / "train.tar"), str(tmp_path / "ImageNet")
    with pytest.raises(DataError, match="ILSVRC2012_img_train.tar .* from https://image-net"):
        imagenet.prepare(source, output)
    make_imagenet_tar(source, {**imagenet_classes, "n03": {}})
    with pytest.raises(DataError, match="n03.tar holds no images"):
        imagenet.prepare(source, output)
    make_imagenet_tar(source, imagenet_classes)
    with tarfile.open(source) as tar:
        last = tar.getmembers()[-1]
    for cut in (last.offset_data + last.size // 2, last.offset_data - 100):
        make_imagenet_tar(source, imagenet_classes)
        with open(source, "r+b") as f:
            f.truncate(cut)  # in the last class's data, in its header (tarfile sees that one)
        with pytest.raises(DataError, match=r"train.tar\b.* truncated"):
            imagenet.prepare(source, output, overwrite=True)
    with tarfile.open(source, "w") as tar:
        add_bytes(tar, "README", b"hello")
    with pytest.raises(DataError, match="README: expected only one tar per class"):
        imagenet.prepare(source, output)


# ---------------------------------------------------------------------------------------------
# Command lines


def run_script(
    module: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"datasets.{module}", *args],
        cwd=REPO_ROOT,
        env=dict(os.environ, **(env or {})),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_scripts_report_errors_without_traceback(tmp_path):
    missing = run_script("stl10", f"--data_root={tmp_path}")
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: {tmp_path}/downloads/stl10_binary.tar.gz not found")
    assert "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz" in missing.stderr
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK not a zip")
    corrupt = run_script("celeba", f"--source={bad}", f"--output={tmp_path / 'c.npy'}")
    assert corrupt.returncode == 2 and corrupt.stderr.startswith(f"error: {bad}: truncated")
    for result in (missing, corrupt):
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args,words",
    [
        (["--no_such_flag=1"], ["no_such_flag"]),
        (["--num_workers=0"], ["num_workers", "0"]),
        (["extra_argument"], ["unexpected arguments", "extra_argument"]),
    ],
)
def test_a_script_user_error_is_one_error_line_and_exit_2(tmp_path, args, words):
    result = run_script("celeba", f"--data_root={tmp_path}", *args)
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(word in lines[0] for word in words), lines[0]


# ---------------------------------------------------------------------------------------------
# tensorflow-datasets


@pytest.fixture
def mock_tfds(monkeypatch):
    """tfds' own random mock data; the (offline) host check passes."""
    import tensorflow_datasets as tfds

    monkeypatch.setattr(common, "host_reachable", lambda url, timeout=10.0: True)

    def mock(num_examples: int):
        return tfds.testing.mock_data(num_examples=num_examples)

    return mock


def tfds_images(name: str, split: str, decoders=None) -> list:
    import tensorflow_datasets as tfds

    dataset = tfds.load(name, split=split, decoders=decoders)
    return [example["image"] for example in tfds.as_numpy(dataset)]


def sort_images(images: np.ndarray) -> np.ndarray:
    return images[np.lexsort(images.reshape(len(images), -1).T[::-1])]


def test_tfds_cifar10_writes_the_python_tarball(tmp_path, mock_tfds):
    output = str(tmp_path / "CIFAR10" / cifar10.ARCHIVE)
    with mock_tfds(10):
        cifar10.prepare_from_tfds(output, images_per_batch=2)
        expected = np.stack(tfds_images("cifar10", "train"))
    images, labels = cifar10.read_train(output, images_per_batch=2)
    np.testing.assert_array_equal(images, expected)
    assert labels.shape == (10,)
    assert listing(tmp_path / "CIFAR10") == [cifar10.ARCHIVE]


def test_tfds_stl10_matches_the_archive_path(tmp_path, mock_tfds):
    output = str(tmp_path / "tfds.npy")
    with mock_tfds(6):
        stl10.prepare_from_tfds(output, num_images=6)
        images = np.stack(tfds_images("stl10", "unlabelled"))
    make_stl_tarball(str(tmp_path / "stl.tar.gz"), images)
    stl10.prepare_from_archive(str(tmp_path / "stl.tar.gz"), str(tmp_path / "a.npy"), 6)
    np.testing.assert_array_equal(
        sort_images(np.load(output)), sort_images(np.load(tmp_path / "a.npy"))
    )


def test_tfds_celeba_matches_the_archive_path(tmp_path, mock_tfds):
    import tensorflow_datasets as tfds

    output = str(tmp_path / "tfds.npy")
    with mock_tfds(3):
        celeba.prepare_from_tfds(output, num_images=3)
        jpegs = tfds_images(
            "celeb_a", "train+validation+test", decoders={"image": tfds.decode.SkipDecoding()}
        )
    assert decoded(jpegs[0]).shape == (218, 178, 3)
    make_celeba_zip(str(tmp_path / "celeba.zip"), jpegs)
    celeba.prepare_from_archive(str(tmp_path / "celeba.zip"), str(tmp_path / "a.npy"), 3)
    np.testing.assert_array_equal(
        sort_images(np.load(output)), sort_images(np.load(tmp_path / "a.npy"))
    )


def test_tfds_offline_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "host_reachable", lambda url, timeout=10.0: False)
    with pytest.raises(
        DataError,
        match=r"no prepared 'stl10' and its download host "
        r"www.example.org cannot be reached from this "
        r"machine. Download it by hand",
    ):
        common.tfds_builder(
            "stl10", str(tmp_path), "http://www.example.org/x", "Download it by hand"
        )


def test_tfds_failed_download_says_what_to_download(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def fail(self, *args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(common, "host_reachable", lambda url, timeout=10.0: True)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", fail)
    with pytest.raises(
        DataError,
        match=r"could not download and prepare 'cifar10' "
        r"\(ConnectionError: no route to host\). By hand",
    ):
        common.tfds_builder("cifar10", str(tmp_path), cifar10.URL, "By hand")


def test_tfds_cli_offline(tmp_path):
    # Offline on every machine (no TCP connection can be opened), so this never downloads.
    result = run_script(
        "cifar10",
        "--source_kind=tfds",
        f"--data_root={tmp_path}",
        f"--tfds_data_dir={tmp_path / 'tfds'}",
        env=offline_env(),
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]  # after tfds' own log lines
    assert last.startswith("error: tensorflow-datasets has no prepared 'cifar10'")
    assert f"download {cifar10.URL}, put it at {tmp_path}/downloads/{cifar10.ARCHIVE}" in last
