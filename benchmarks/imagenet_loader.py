"""Throughput of the streaming ImageNet loader (gan/imagenet.py) on a synthetic folder.

    python benchmarks/imagenet_loader.py [--num_files=5000] [--num_classes=50] [--dir=DIR]

Writes num_files random 128x128x3 uint8 .npy files (unless --dir already holds them), then
measures images/s after a warm-up for the in-graph reader (tf.io.read_file + header check), in
order and out of order, and for a tf.numpy_function(np.load) reader for comparison, against what
one ResNet iteration consumes: n_dis (5) x d_batch_size (16) + g_batch_size (32) = 112 images.
Freshly written files sit in the page cache: this measures decoding, not the disk.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from gan.imagenet import IMAGE_SHAPE, ImageNetFolder, to_float  # noqa: E402

flags.DEFINE_integer("num_files", 5000, "Number of .npy files to generate.")
flags.DEFINE_integer("num_classes", 50, "Number of class folders.")
flags.DEFINE_string("dir", None, "Folder for the files (default: a temporary one, removed).")
flags.DEFINE_integer("batch_size", 112, "Images per batch read.")
flags.DEFINE_float("seconds", 10.0, "Measuring time per variant.")
flags.DEFINE_integer("warmup_batches", 20, "Batches read before measuring.")
FLAGS = flags.FLAGS

IMAGES_PER_ITERATION = 5 * 16 + 32


def make_folder(root: str, num_files: int, num_classes: int) -> None:
    """Write num_files random images spread over num_classes class folders."""
    rng = np.random.default_rng(0)
    for k in range(num_files):
        folder = os.path.join(root, f"n{k % num_classes:08d}")
        os.makedirs(folder, exist_ok=True)
        np.save(
            os.path.join(folder, f"img_{k:07d}.npy"),
            rng.integers(0, 256, IMAGE_SHAPE, dtype=np.uint8),
        )


def numpy_function_dataset(data: ImageNetFolder, batch_size: int, seed: int) -> tf.data.Dataset:
    """The alternative reader: np.load through tf.numpy_function (holds the GIL per image)."""
    files = tf.constant(data.files)
    count = tf.constant(data.num_images, tf.int64)

    def load(path: bytes) -> np.ndarray:
        return np.load(path.decode())

    def read(index: tf.Tensor) -> tf.Tensor:
        image = tf.numpy_function(load, [files[index]], tf.uint8)
        return tf.ensure_shape(image, IMAGE_SHAPE)

    indices = tf.data.Dataset.random(seed=seed).map(lambda x: tf.math.floormod(x, count))
    images = indices.map(read, num_parallel_calls=tf.data.AUTOTUNE)
    return images.batch(batch_size, drop_remainder=True).map(to_float).prefetch(tf.data.AUTOTUNE)


def measure(dataset: tf.data.Dataset, batch_size: int, warmup: int, seconds: float) -> float:
    """Images per second read from dataset after warmup batches."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    batches, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(iterator)
        batches += 1
    return batches * batch_size / (time.perf_counter() - start)


def main(argv: list[str]) -> None:
    """Generate the folder, run the variants, print the figures."""
    del argv
    root = FLAGS.dir or tempfile.mkdtemp(prefix="imagenet_bench_")
    try:
        have = sum(len(files) for _, _, files in os.walk(root))
        if have < FLAGS.num_files:
            start = time.perf_counter()
            make_folder(root, FLAGS.num_files, FLAGS.num_classes)
            print(f"wrote {FLAGS.num_files} files in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        data = ImageNetFolder(root, allow_subset=True)
        listing = time.perf_counter() - start
        print(
            f"indexed {data.num_images} files in {data.num_classes} classes in "
            f"{listing:.2f} s ({listing / data.num_images * 1e6:.1f} us per file)"
        )
        print(
            f"CPU cores: {os.cpu_count()}; one ResNet iteration uses {IMAGES_PER_ITERATION} images"
        )
        variants = {
            "read_file + in-graph header check, deterministic": data.dataset(
                FLAGS.batch_size, seed=0
            ),
            "read_file + in-graph header check, out of order": data.dataset(
                FLAGS.batch_size, seed=0, deterministic=False
            ),
            "tf.numpy_function(np.load)": numpy_function_dataset(data, FLAGS.batch_size, 0),
        }
        for name, dataset in variants.items():
            rate = measure(dataset, FLAGS.batch_size, FLAGS.warmup_batches, FLAGS.seconds)
            print(
                f"{name:50s} {rate:9.0f} images/s = "
                f"{rate / IMAGES_PER_ITERATION:7.1f} ResNet iterations/s"
            )
    finally:
        if FLAGS.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
