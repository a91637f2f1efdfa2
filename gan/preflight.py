"""Cheap checks of a task's dataset files before the scheduler starts any run (and in
``--dry_run``).

What a run would otherwise find only inside its worker, after TensorFlow started and its
folder was made: dataset files that are missing or malformed (every key and combination of
keys was checked when the run configs were made, :class:`gan.config.RunConfig`). Each check
reads headers only: the CIFAR-10 tarball's member list, a ``.npy`` file's header and size, the
ImageNet folder's existence. No TensorFlow, no dataset loaded.

A problem raises ConfigError with one line naming the file, key or value and what was
expected (the worker's ``error:`` line, before anything exists).
"""

from __future__ import annotations

import os
import tarfile
import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from gan.config import ConfigError
from gan.dataset_files import IMAGE_SIZE, IMAGENET_FOLDER, dataset_path, read_npy_header

CIFAR_MEMBERS = tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6))


def check_cifar10(path: str) -> None:
    """The CIFAR-10 python tarball exists, reads to its end and holds the 5 training batches."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            names = set(tar.getnames())  # reads the whole (compressed) stream: catches a cut
    except FileNotFoundError:
        raise ConfigError(
            f"cifar10: {path} not found; see README 'Datasets' (python -m "
            "datasets.cifar10) for how to make it, or set data_root"
        ) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ConfigError(
            f"{path}: truncated or not a .tar.gz archive ({exc}); expected the "
            "CIFAR-10 python tarball, download it again"
        ) from None
    missing = [m for m in CIFAR_MEMBERS if m not in names]
    if missing:
        raise ConfigError(
            f"{path} lacks {', '.join(missing)}: expected the 5 training batches "
            "of the CIFAR-10 python tarball (cifar-10-python.tar.gz)"
        )


def check_npy(path: str, dataset: str, size: int) -> None:
    """A ``.npy`` image file's header: shape [N, size, size, 3], uint8 or float, full length."""
    script = f"python -m datasets.{dataset}"
    try:
        shape, dtype, offset = read_npy_header(path)
    except FileNotFoundError:
        raise ConfigError(
            f"{dataset}: {path} not found; see README 'Datasets' ({script}) "
            "for how to make it, or set data_root"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ConfigError(
            f"{path}: not a readable .npy array ({exc}); preprocess it again with {script}"
        ) from None
    if len(shape) != 4 or tuple(shape[1:]) != (size, size, 3) or shape[0] == 0:
        raise ConfigError(
            f"{path}: array of shape {tuple(shape)}, expected [N, {size}, {size}, 3] with N > 0"
        )
    if dtype != np.uint8 and not np.issubdtype(dtype, np.floating):
        raise ConfigError(f"{path}: dtype {dtype}, expected uint8 (or float in [-1, 1])")
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    actual = os.path.getsize(path)
    if actual < expected:
        raise ConfigError(
            f"{path} is {actual} bytes, expected {expected} for a {dtype} array "
            f"of shape {tuple(shape)}: truncated; preprocess it again with {script}"
        )


def check_data(dataset: str, data_root: str) -> None:
    """Raise ConfigError unless ``dataset``'s files under ``data_root`` look usable."""
    if dataset == "shapes":
        return  # generated in memory
    if dataset == "imagenet":
        folder = os.path.join(data_root, IMAGENET_FOLDER)
        if not os.path.isdir(folder):
            raise ConfigError(
                f"imagenet: {folder} not found; see README 'Datasets' (python -m "
                "datasets.imagenet) for how to make it, or set data_root"
            )
        return
    path = dataset_path(dataset, data_root)
    if dataset == "cifar10":
        check_cifar10(path)
    else:
        check_npy(path, dataset, IMAGE_SIZE[dataset])


def check_runs(runs: Iterable[Any]) -> None:
    """Raise ConfigError for the first dataset of ``runs`` whose files look unusable.

    ``runs`` are :class:`gan.tasks.Run` objects (their configs were checked when the task was
    loaded); each dataset is checked once.
    """
    problems = data_problems(runs, first=True)
    if problems:
        raise ConfigError(problems[0])


def data_problems(runs: Iterable[Any], first: bool = False) -> list[str]:
    """The data problems of ``runs``, each dataset once (for ``--dry_run``); with ``first``,
    stop at the first."""
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    for run in runs:
        key = (run.config.dataset, run.config.data_root)
        if key in seen:
            continue
        seen.add(key)
        try:
            check_data(*key)
        except ConfigError as exc:
            out.append(str(exc))
            if first:
                break
    return out
