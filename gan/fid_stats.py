"""Fixed FID reference statistics: ``python main.py fid_stats --dataset cifar10 [--num all|N]``.

Writes ``<data_root>/fid_stats/<dataset>-<graph>-<N>.npz`` holding ``mu`` [d] and ``sigma``
[d, d] (the format of ``gan.metrics.fid_stats_file``) of the Inception ``pool_3`` features of
``N`` training images, computed from the same preprocessed data (``gan.dataset_files``) and the
same Inception pipeline (``InceptionGraph``, uint8 -> [-1, 1] -> TF1 resize) as training's FID real
subset. ``<graph>`` is ``inceptionv1`` for the standard graph, else the graph file's name.
``--num N`` takes ``N`` images drawn without replacement with ``--seed`` (default 0); ``all``
takes every image.

A FID against such a file (``gan.metrics.inception.fid_against_stats``: the run-config key
``fid_reference`` or ``evaluate --fid_reference FILE``) compares the generated features'
moments with ``mu`` and ``sigma`` instead of the per-run real subset (the paper's 5,000 images,
which stays the default), so FIDs of different runs share one reference.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
from tqdm import tqdm

from gan.config import DATASETS, DEFAULT_DATA_ROOT, RUN_KEYS, ConfigError
from gan.metrics.fid_stats_file import write_stats
from gan.metrics.inception import (
    INCEPTION_PB,
    FeatureMoments,
    InceptionGraph,
    find_inception_graph,
    inception_batch_size,
    load_inception_graph_def,
)
from gan.real_images import training_data
from gan.run_folder import refuse_output_over_runs

STATS_DIR = "fid_stats"
CHUNK = 256


def graph_tag(path: str) -> str:
    """``inceptionv1`` for the standard graph file, else the file's name (safe characters)."""
    name = os.path.basename(path)
    if name == INCEPTION_PB:
        return "inceptionv1"
    return re.sub(r"[^A-Za-z0-9_.]+", "_", os.path.splitext(name)[0]) or "graph"


def stats_path(data_root: str, dataset: str, graph_path: str, num: int) -> str:
    """``<data_root>/fid_stats/<dataset>-<graph>-<num>.npz``."""
    return os.path.join(data_root, STATS_DIR, f"{dataset}-{graph_tag(graph_path)}-{num}.npz")


def dataset_images(dataset: str, data_root: str) -> Any:
    """The training images of ``dataset`` (an array), or the streamed ImageNet folder."""
    return training_data(dataset, data_root, imagenet_allow_subset=True)


def compute_stats(
    images: Any, num: int | None, seed: int, graph: InceptionGraph
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(mu, sigma, N)`` of the pool_3 features of ``num`` images (None: all), a chunk of
    ``CHUNK`` images at a time."""
    rng = np.random.default_rng(seed)
    streamed = not isinstance(images, np.ndarray)
    total = images.num_images if streamed else len(images)
    if num is None:
        if streamed:
            raise ConfigError(
                "fid_stats --num all: the streamed imagenet data needs a number "
                "of images, e.g. --num 50000"
            )
        num = total
    if num > total:
        raise ConfigError(f"--num {num}: the dataset has {total} images")
    if num < 2:
        raise ConfigError(f"--num {num}: statistics need at least 2 images")
    index = None if num == total or streamed else np.sort(rng.choice(total, num, replace=False))
    moments = FeatureMoments()
    with tqdm(total=num, unit="img", disable=None) as bar:
        for start in range(0, num, CHUNK):
            k = min(CHUNK, num - start)
            if streamed:
                chunk = images.sample_uint8(k, rng)
            elif index is None:
                chunk = np.asarray(images[start : start + k])
            else:
                chunk = np.asarray(images[index[start : start + k]])
            moments.add(graph.run(chunk)[1])
            bar.update(k)
    mu, sigma = moments.mean_and_covariance()
    return np.asarray(mu, np.float64), np.asarray(sigma, np.float64), num


def write_dataset_stats(
    dataset: str,
    data_root: str | None = None,
    num: str = "all",
    seed: int = 0,
    inception_graph: str | None = None,
    out: str | None = None,
    overwrite: bool = False,
) -> str:
    """Compute and write the reference statistics of ``dataset``; returns the file."""
    if dataset not in DATASETS:
        raise ConfigError(f"--dataset {dataset!r}: expected one of {', '.join(DATASETS)}")
    count: int | None = None
    if str(num).strip().lower() not in ("all", ""):
        try:
            count = int(num)
        except ValueError:
            raise ConfigError(f"--num {num!r}: expected 'all' or a number of images") from None
        if count <= 0:
            raise ConfigError(f"--num {count}: expected a positive number of images")
    data_root = data_root or DEFAULT_DATA_ROOT
    graph_path = find_inception_graph(inception_graph)
    images = dataset_images(dataset, data_root)
    total = images.num_images if not isinstance(images, np.ndarray) else len(images)
    path = out or stats_path(data_root, dataset, graph_path, count or total)
    refuse_output_over_runs(path)
    if os.path.exists(path) and not overwrite:
        raise ConfigError(f"{path} already exists; pass --overwrite to replace it")
    graph = InceptionGraph(
        load_inception_graph_def(graph_path),
        inception_batch_size(0, RUN_KEYS["metric_batch_size"].default),
    )
    mu, sigma, n = compute_stats(images, count, seed, graph)
    write_stats(
        path, mu, sigma, dataset=dataset, graph=os.path.basename(graph_path), num=n, seed=seed
    )
    print(
        f"wrote the FID statistics of {n} {dataset} images ({graph_tag(graph_path)}, "
        f"dimension {mu.shape[0]}) to {path}",
        flush=True,
    )
    return path
