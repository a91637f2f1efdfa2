"""In-memory training data (docs/faithfulness.md section 2): CIFAR10's python tarball,
stl10.npy, celeba.npy.

Images are kept as uint8 NHWC (a quarter of float32, an eighth of the original's float64) and
mapped to [-1, 1] per batch on the device (``to_unit_range``). Float arrays already in [-1, 1]
are accepted too and kept as float32.
"""

from __future__ import annotations

import os
import pickle
import tarfile
import zlib

import numpy as np

from gan import safe_pickle
from gan.errors import DataError  # noqa: F401  (re-exported: gan.dataset_files.DataError)
from gan.shapes import shapes_images

CIFAR10_ARCHIVE = os.path.join("CIFAR10", "cifar-10-python.tar.gz")
STL10_FILE = os.path.join("STL10", "stl10.npy")
CELEBA_FILE = os.path.join("CelebA", "celeba.npy")

IMAGE_SIZE = {"cifar10": 32, "stl10": 48, "celeba": 64, "imagenet": 128, "shapes": 32}
IMAGENET_FOLDER = "ImageNet"  # under data_root, as `python -m datasets.imagenet` writes it


def dataset_path(dataset: str, data_root: str) -> str:
    """Where a dataset's file is expected under ``data_root``."""
    rel = {"cifar10": CIFAR10_ARCHIVE, "stl10": STL10_FILE, "celeba": CELEBA_FILE}.get(dataset)
    if rel is None:
        raise DataError(f"dataset {dataset!r} is not an in-memory dataset")
    return os.path.join(data_root, rel)


def load_cifar10(path: str) -> np.ndarray:
    """The 50,000 training images of ``cifar-10-python.tar.gz`` as uint8 [50000, 32, 32, 3].

    The tarball is read as one stream, in a single pass over its gzip data: looking members up
    by name would scan the whole archive first and then decompress it again from the start.
    """
    _require_file(path, "cifar10", "datasets/cifar10.py")
    wanted = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)]
    batches: dict[str, np.ndarray] = {}
    try:
        with tarfile.open(path, "r|*") as tar:
            for info in tar:
                if info.name in wanted and info.isfile():
                    blob = tar.extractfile(info).read()
                    batches[info.name] = _cifar10_batch(path, info.name, blob)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(
            f"{path}: cannot read the CIFAR-10 tarball ({e}); it may be truncated, "
            "download it again"
        ) from None
    for member in wanted:
        if member not in batches:
            raise DataError(
                f"{path}: member {member} is missing; is this the CIFAR-10 "
                "python tarball (cifar-10-python.tar.gz)?"
            )
    data = np.concatenate([batches[m] for m in wanted]).reshape(50000, 3, 32, 32)
    return np.ascontiguousarray(data.transpose(0, 2, 3, 1))


def _cifar10_batch(path: str, member: str, blob: bytes) -> np.ndarray:
    """The uint8 (10000, 3072) ``data`` rows of one CIFAR-10 batch pickle."""
    try:
        batch = safe_pickle.load(blob)
    except (pickle.UnpicklingError, ValueError, TypeError) as e:
        raise DataError(f"{path}: {member} is not a plain CIFAR-10 batch pickle ({e})") from None
    rows = batch.get(b"data") if isinstance(batch, dict) else None
    if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8 or rows.shape != (10000, 3072):
        got = f"{rows.dtype} {rows.shape}" if isinstance(rows, np.ndarray) else type(rows).__name__
        raise DataError(f"{path}: {member} holds {got}, expected uint8 (10000, 3072)")
    return rows


def read_npy_header(path: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """The shape, dtype and data offset of the ``.npy`` file ``path``, from its header alone.

    Raises FileNotFoundError, or OSError/ValueError/SyntaxError for a file that is not a
    readable ``.npy`` array (NumPy's format reader's errors).
    """
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        return tuple(shape), np.dtype(dtype), f.tell()


def load_npy(path: str, dataset: str, size: int) -> np.ndarray:
    """An image array ``[N, size, size, 3]`` from ``path`` (uint8, or float in [-1, 1])."""
    _require_file(path, dataset, f"datasets/{dataset}.py")
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(
            f"{path}: not a readable .npy array ({e}); preprocess it again with "
            f"datasets/{dataset}.py"
        ) from None
    return check_images(data, path, size)


def check_images(data: np.ndarray, path: str, size: int) -> np.ndarray:
    """Check shape ``[N, size, size, 3]``, dtype and range; returns uint8 or float32 data."""
    if data.ndim != 4 or data.shape[1:] != (size, size, 3) or data.shape[0] == 0:
        raise DataError(
            f"{path}: array of shape {data.shape}, expected [N, {size}, {size}, 3] with N > 0"
        )
    if data.dtype == np.uint8:
        # A C-ordered memory map stays one (ImageBank reads it through the file, chunk by chunk).
        return data if data.flags.c_contiguous else np.ascontiguousarray(data)
    if np.issubdtype(data.dtype, np.floating):
        lo, hi = float(np.min(data)), float(np.max(data))
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1.0 or hi > 1.0:
            raise DataError(f"{path}: float images must lie in [-1, 1], found [{lo}, {hi}]")
        return np.asarray(data, dtype=np.float32)
    raise DataError(f"{path}: dtype {data.dtype}, expected uint8 (or float in [-1, 1])")


def load_images(dataset: str, data_root: str) -> np.ndarray:
    """Training images of ``dataset`` (uint8 or float32 NHWC) from ``data_root``."""
    if dataset == "cifar10":
        return load_cifar10(dataset_path(dataset, data_root))
    if dataset in ("stl10", "celeba"):
        return load_npy(dataset_path(dataset, data_root), dataset, IMAGE_SIZE[dataset])
    if dataset == "shapes":
        return shapes_images(data_root)
    raise DataError(f"dataset {dataset!r} is streamed, not loaded in memory")


class ImageBank:
    """The training set held once, as uint8 (or float32 for float inputs), seen by TensorFlow.

    The images live in one 64-byte aligned NumPy buffer that TensorFlow reads in place through
    DLPack (``tensor``), so a CelebA-sized set costs its own size once and stays outside
    TensorFlow's CPU allocator, whose pool (and bookkeeping) then only serves the step's
    working set. The buffer is filled ``chunk`` images at a time, from the file for a
    memory-mapped ``.npy`` (plain reads, so the mapping never enters this process's resident
    memory). Indexing with an integer array returns those images as NumPy (the metrics' real
    subsets); ``gather`` is the in-graph version, pinned to the CPU where the buffer lives.
    """

    ALIGNMENT = 64  # what TensorFlow requires of a tensor's buffer (Tensor::IsAligned)

    def __init__(self, images: np.ndarray, chunk: int = 256):
        # TensorFlow: imported here; the pre-flight check and the CLI read this module without it.
        import tensorflow as tf

        self.shape = tuple(int(s) for s in images.shape)
        self.dtype = np.dtype(np.uint8 if images.dtype == np.uint8 else np.float32)
        self.array = _aligned_empty(self.shape, self.dtype, self.ALIGNMENT)
        _fill(self.array, images, chunk)
        with tf.device("/cpu:0"):
            self.tensor = tf.experimental.dlpack.from_dlpack(self.array.__dlpack__())

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        return self.array[np.asarray(index, dtype=np.int64)]

    def gather(self, index):
        """``images[index]`` as a tensor (inside or outside ``tf.function``)."""
        # TensorFlow: imported here; the pre-flight check and the CLI read this module without it.
        import tensorflow as tf

        with tf.device("/cpu:0"):
            return tf.gather(self.tensor, index)


def _aligned_empty(shape: tuple[int, ...], dtype: np.dtype, alignment: int) -> np.ndarray:
    """An uninitialized C-ordered array whose data starts on an ``alignment``-byte boundary.

    Uninitialized on purpose: every row is written once by the caller, and pages never
    written cost no memory (zeros would first touch all of it).
    """
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + alignment, np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)


def _fill(out: np.ndarray, images: np.ndarray, chunk: int) -> None:
    """Copy ``images`` into ``out`` ``chunk`` rows at a time; a C-ordered memmap of ``out``'s
    dtype is read through its file straight into ``out``."""
    n = images.shape[0]
    if isinstance(images, np.memmap) and images.dtype == out.dtype and images.flags.c_contiguous:
        row = int(np.prod(images.shape[1:])) * images.itemsize
        with open(images.filename, "rb") as f:
            f.seek(images.offset)
            for start in range(0, n, chunk):
                k = min(chunk, n - start)
                if f.readinto(memoryview(out[start : start + k]).cast("B")) != k * row:
                    raise DataError(f"{images.filename}: file ends early (truncated?)")
        return
    for start in range(0, n, chunk):
        out[start : start + chunk] = images[start : start + chunk]


def to_unit_range(images):
    """uint8 [0, 255] -> float32 [-1, 1] as ``x / 255 * 2 - 1`` (TF or NumPy input)."""
    # TensorFlow: imported here; the pre-flight check and the CLI read this module without it.
    import tensorflow as tf

    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0 * 2.0 - 1.0
    return tf.cast(images, tf.float32)


def _require_file(path: str, dataset: str, script: str) -> None:
    if not os.path.isfile(path):
        raise DataError(
            f"{dataset}: {path} not found; see README 'Datasets' "
            f"(python {script}) for how to make it, or set data_root"
        )
