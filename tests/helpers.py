"""Builders of tiny real-format inputs shared by the tests."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np


def write_cifar_tarball(path: str, per_batch: int = 10000, seed: int = 0) -> np.ndarray:
    """A ``cifar-10-python.tar.gz`` with 5 data_batch pickles; returns the NHWC images."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 256, (5 * per_batch, 3072), dtype=np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for i in range(5):
            blob = pickle.dumps({b"batch_label": b"training batch", b"labels": [0] * per_batch,
                                 b"data": rows[i * per_batch:(i + 1) * per_batch]}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/data_batch_{i + 1}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
