"""Streaming ImageNet: random images from the folder written by ``python -m datasets.imagenet``.

The folder holds ``<root>/<class>/<image>.npy`` files, each a uint8 128x128x3 array. Like the
original loader, images are drawn uniformly at random WITH replacement (there are no epochs),
read by parallel workers, and mapped to float32 in [-1, 1] as ``x / 255 * 2 - 1``. The tf.data
pipeline reads each file with ``tf.io.read_file`` and checks and strips the .npy header in the
graph: no Python (and no GIL) per image.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf
from absl import logging

from gan.dataset_files import DataError

EXPECTED_CLASSES = 1000
EXPECTED_IMAGES = 1281167
IMAGE_SHAPE = (128, 128, 3)
_IMAGE_BYTES = int(np.prod(IMAGE_SHAPE))
_NPY_MAGIC = b"\x93NUMPY\x01\x00"
# The header dict np.save writes for a C-order uint8 (128, 128, 3) array, with its padding.
_NPY_HEADER = (
    r"\{\s*'descr':\s*'\|u1',\s*'fortran_order':\s*False,\s*"
    r"'shape':\s*\(128,\s*128,\s*3\),?\s*\}\s*"
)
_EXPECTED = "a uint8 (128, 128, 3) .npy file as written by `python -m datasets.imagenet`"


def _list_npy(folder: str) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.name.endswith(".npy") and e.is_file())


class ImageNetFolder:
    """The preprocessed ImageNet folder: its files (checked), a tf.data stream and a sampler."""

    def __init__(
        self,
        root: str,
        allow_subset: bool = False,
        expected_classes: int = EXPECTED_CLASSES,
        expected_images: int = EXPECTED_IMAGES,
    ) -> None:
        """List root/<class>/*.npy; unless allow_subset, require the full ILSVRC2012 train set
        (expected_classes folders, expected_images files); a subset is logged with its counts."""
        self.root = root
        try:
            with os.scandir(root) as entries:
                self.class_names = sorted(e.name for e in entries if e.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            raise DataError(
                f"ImageNet folder {root} does not exist: make it with "
                "`python -m datasets.imagenet` (see README, Datasets)"
            ) from None
        if not self.class_names:
            raise DataError(
                f"{root} holds no class folders: expected <class>/<image>.npy, "
                "made by `python -m datasets.imagenet`"
            )
        self.files: list[str] = []
        for name in self.class_names:
            folder = os.path.join(root, name)
            names = _list_npy(folder)
            if not names:
                raise DataError(f"class folder {folder} holds no .npy images")
            self.files.extend(os.path.join(folder, n) for n in names)
        counts = (
            f"{root} holds {self.num_classes} classes and {self.num_images} images, "
            f"expected {expected_classes} and {expected_images} (ILSVRC2012 train)"
        )
        if (self.num_classes, self.num_images) == (expected_classes, expected_images):
            logging.info(
                "ImageNet: %d classes, %d images in %s", self.num_classes, self.num_images, root
            )
        elif allow_subset:
            logging.warning("%s; using this subset (allow_subset)", counts)
        else:
            raise DataError(f"{counts}; pass allow_subset=True to use them anyway")

    @property
    def num_classes(self) -> int:
        """Number of class folders."""
        return len(self.class_names)

    @property
    def num_images(self) -> int:
        """Number of image files."""
        return len(self.files)

    def dataset(
        self,
        batch_size: int,
        seed: int | None = None,
        deterministic: bool = True,
        start: int | None = None,
    ) -> tf.data.Dataset:
        """An endless tf.data.Dataset of float32 [batch_size, 128, 128, 3] batches in [-1, 1].

        Each image is drawn uniformly from all files, with replacement. With a seed (and
        deterministic=True) the stream is reproducible; deterministic=False lets parallel reads
        finish out of order, which is as random and can be faster. With ``start`` (which needs
        a seed) draw i of the stream is a function of (seed, i) alone and the stream begins at
        draw ``start``: a resumed run that has consumed ``start`` images continues the very
        stream an uninterrupted run would have read.
        """
        files = tf.constant(self.files)
        count = tf.constant(self.num_images, tf.int64)
        if start is None:
            indices = tf.data.Dataset.random(seed=seed).map(lambda x: tf.math.floormod(x, count))
        else:
            if seed is None:
                raise ValueError("a stream with a start position needs a seed")
            key = tf.constant(seed, tf.int64)
            indices = tf.data.Dataset.range(int(start), 2**62).map(
                lambda i: tf.random.stateless_uniform(
                    [], tf.stack([key, i]), 0, count, dtype=tf.int64
                )
            )
        images = indices.map(
            lambda i: _read_npy(files[i]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=deterministic,
        )
        batches = images.batch(batch_size, drop_remainder=True)
        return batches.map(to_float).prefetch(tf.data.AUTOTUNE)

    def sample_uint8(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n images drawn uniformly with replacement, uint8 [n, 128, 128, 3] (e.g. FID reals)."""
        chosen = rng.integers(0, self.num_images, size=n)
        with ThreadPoolExecutor(16) as pool:
            return np.stack(list(pool.map(lambda i: load_image(self.files[i]), chosen)))


def to_float(images: tf.Tensor) -> tf.Tensor:
    """uint8 images -> float32 in [-1, 1] (x / 255 * 2 - 1)."""
    return tf.cast(images, tf.float32) / 255.0 * 2.0 - 1.0


def load_image(path: str) -> np.ndarray:
    """Load one image file, checked to be uint8 128x128x3."""
    try:
        image = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: not readable ({e}); expected {_EXPECTED}") from None
    if image.dtype != np.uint8 or image.shape != IMAGE_SHAPE:
        raise DataError(f"{path} holds {image.dtype} {image.shape}; expected {_EXPECTED}")
    return image


def _read_npy(path: tf.Tensor) -> tf.Tensor:
    """Read one .npy image in the graph; a file that is not the expected array fails the
    pipeline with an InvalidArgumentError naming it."""
    raw = tf.io.read_file(path)
    padded = tf.strings.join([raw, b"\0" * 10])  # so the header fields can be sliced safely
    header_len = 10 + tf.cast(
        tf.io.decode_raw(tf.strings.substr(padded, 8, 2), tf.uint16, little_endian=True)[0],
        tf.int32,
    )
    valid = tf.reduce_all(
        [
            tf.equal(tf.strings.substr(padded, 0, 8), _NPY_MAGIC),
            tf.strings.regex_full_match(
                tf.strings.substr(padded, 10, header_len - 10), _NPY_HEADER
            ),
            tf.equal(tf.strings.length(raw), header_len + _IMAGE_BYTES),
        ]
    )
    check = tf.debugging.Assert(valid, [f"expected {_EXPECTED}:", path])
    with tf.control_dependencies([check]):
        data = tf.strings.substr(raw, header_len, _IMAGE_BYTES)
    return tf.reshape(tf.io.decode_raw(data, tf.uint8), IMAGE_SHAPE)
