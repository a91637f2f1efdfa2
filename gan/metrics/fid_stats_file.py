"""FID reference statistics files: ``mu`` [d] and ``sigma`` [d, d] (float64) in an ``.npz``.

The key names are those of the TTUR statistics files (e.g. ``fid_stats_cifar10_train.npz``),
which are read the same way. ``python main.py fid_stats`` (``gan.fid_stats``) writes them; a
FID against one (``gan.metrics.inception.fid_against_stats``) reads them. TensorFlow-free, so
``evaluate`` checks a ``--fid_reference`` file before anything loads.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gan.atomic import atomic_path
from gan.errors import ConfigError


def read_stats(path: str, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)`` of a statistics file (this command's or TTUR's), float64, checked:
    ``mu`` [d], ``sigma`` [d, d], finite, and ``d == dim`` when given."""
    if not os.path.isfile(path):
        raise ConfigError(
            f"fid_reference {path}: no such file (make one with `python main.py "
            "fid_stats --dataset NAME`)"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("mu", "sigma") if k not in data.files]
            if missing:
                raise ConfigError(
                    f"fid_reference {path}: no {' or '.join(missing)} array (it "
                    f"has {', '.join(data.files) or 'none'}); expected mu [d] and "
                    "sigma [d, d]"
                )
            mu = np.asarray(data["mu"], np.float64)
            sigma = np.asarray(data["sigma"], np.float64)
    except (OSError, ValueError, EOFError) as e:
        raise ConfigError(f"fid_reference {path}: not a readable .npz ({e})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ConfigError(
            f"fid_reference {path}: mu {mu.shape} and sigma {sigma.shape}, "
            "expected mu [d] and sigma [d, d]"
        )
    if dim is not None and mu.shape[0] != dim:
        raise ConfigError(
            f"fid_reference {path}: statistics of dimension {mu.shape[0]}, but "
            f"the Inception graph's pool_3 features have {dim} (another graph?)"
        )
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ConfigError(f"fid_reference {path}: mu or sigma holds NaN or infinity")
    return mu, sigma


def write_stats(path: str, mu: np.ndarray, sigma: np.ndarray, **info: Any) -> None:
    """Write ``mu``, ``sigma`` and ``info`` (strings/numbers) atomically to ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, mu=mu, sigma=sigma, **{k: np.asarray(v) for k, v in info.items()})
