"""The IS and FID math, and the helpers the feature-based metrics share.

Inception Score by the original's splits (``split_bounds``, ``split_score``,
``inception_score``, tensorflow-gan's formula in NumPy); FID by tensorflow-gan's formula with
running float64 moments (:class:`FeatureMoments`, ``frechet_distance``). ``cache_dir``,
``check_range`` and ``sample_in_chunks`` serve ``swd.py`` and ``shapes_features.py`` too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from gan.metrics.base import MetricContext


def cache_dir() -> str:
    """The folder holding downloaded files: ``$BSN_CACHE_DIR`` or ``~/.cache/bsn_tf2``."""
    return os.environ.get("BSN_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "bsn_tf2"
    )


def check_range(images: np.ndarray) -> None:
    """Raise ValueError unless every value is in [-1, 1] (NaN fails too), naming min and max."""
    lo, hi = float(np.min(images)), float(np.max(images))
    if not (lo >= -1.0 and hi <= 1.0):
        raise ValueError(f"generated images must lie in [-1, 1]; got min {lo}, max {hi}")


def split_bounds(n: int, num_splits: int) -> list[tuple[int, int]]:
    """The original's IS splits of ``n`` samples: split i is ``[i*n//k, (i+1)*n//k)``."""
    if n < num_splits:
        raise ValueError(f"{n} samples cannot make {num_splits} splits")
    return [(i * n // num_splits, (i + 1) * n // num_splits) for i in range(num_splits)]


def split_score(logits: np.ndarray, block: int = 512) -> float:
    """exp(E_x KL(p(y|x) || p(y))) of one split, p(y|x) = softmax(logits), p(y) its mean.

    tensorflow-gan's ``classifier_score_from_logits`` in NumPy: the same float64 formula
    (``sum p * (log_softmax(logits) - log p(y))``), agreeing to ~1e-15 (pinned by
    tests/test_metrics.py; for float32 logits tfgan rounds its result to float32, this does
    not). Scoring in NumPy keeps tensorflow-gan (and TensorFlow Probability, which it
    imports) out of a run that only needs IS and FID: ~60 MiB of memory that would otherwise
    arrive at the first evaluation, on top of training's peak. The rows are taken ``block``
    at a time (two passes: p(y), then the KL terms), so a 5,000-sample split needs a few MiB
    of float64 temporaries rather than ~200 MiB.
    """
    n = len(logits)
    blocks = range(0, n, block)
    p_y = sum(np.exp(_log_softmax(logits[a : a + block])).sum(axis=0) for a in blocks) / n
    log_p_y = np.log(p_y)
    kl_total = 0.0
    for a in blocks:
        log_p = _log_softmax(logits[a : a + block])
        kl_total += float(np.sum(np.exp(log_p) * (log_p - log_p_y)))
    return float(np.exp(kl_total / n))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = np.array(logits, dtype=np.float64)
    x -= x.max(axis=1, keepdims=True)
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    return x


def inception_score(logits: np.ndarray, num_splits: int = 10) -> tuple[float, float]:
    """Mean and (population) std over splits of ``split_score``; splits by ``split_bounds``.

    Pass ``logits[:, :1000]`` for IS. (A metric pass scores each split as soon as its logits
    are complete, so it never holds all of them: ``InceptionRunner``.)
    """
    scores = [split_score(logits[a:b]) for a, b in split_bounds(len(logits), num_splits)]
    return float(np.mean(scores)), float(np.std(scores))


SQRT_EPS = 1e-10  # tensorflow-gan's _symmetric_matrix_square_root: smaller values stay unrooted


def frechet_distance(
    activations1: np.ndarray | FeatureMoments,
    activations2: np.ndarray | FeatureMoments,
    chunk: int = 2048,
) -> float:
    """FID between two feature sets: tensorflow-gan's ``frechet_classifier_distance_from_
    activations``, ``|m1 - m2|^2 + Tr(S1 + S2 - 2 sqrt(sqrt(S1) S2 sqrt(S1)))`` in float64.

    Either set may be given as its rows or as ``FeatureMoments`` already accumulated over
    them. Same formula, unbiased covariances and square-root rule as tfgan's; two changes in
    how it is computed, for memory: the moments are accumulated ``chunk`` rows at a time, and
    the symmetric square roots come from an eigendecomposition instead of tfgan's SVD
    (``symmetric_sqrt_eigenvalues``). For 10,000 x 2,048 features tfgan's version needs ~1 GB
    more (float64 copies of the features, SVD workspace outside TensorFlow's allocator); the
    values agree to ~1e-12 relative (tests/test_metrics.py pins 1e-9 against tfgan's).
    """
    m1, s1 = _moments(activations1, chunk).mean_and_covariance()
    m2, s2 = _moments(activations2, chunk).mean_and_covariance()
    e, v = tf.linalg.eigh(s1)
    sqrt_s1 = tf.matmul(v * symmetric_sqrt_eigenvalues(e)[None, :], v, transpose_b=True)
    inner = tf.matmul(sqrt_s1, tf.matmul(s2, sqrt_s1))
    del e, v, sqrt_s1
    inner = (inner + tf.transpose(inner)) / 2.0
    trace_sqrt = tf.reduce_sum(symmetric_sqrt_eigenvalues(tf.linalg.eigvalsh(inner)))
    mean_term = tf.reduce_sum(tf.math.squared_difference(m1, m2))
    return float(tf.linalg.trace(s1) + tf.linalg.trace(s2) - 2.0 * trace_sqrt + mean_term)


def _moments(features: np.ndarray | FeatureMoments, chunk: int) -> FeatureMoments:
    if isinstance(features, FeatureMoments):
        return features
    moments = FeatureMoments()
    for start in range(0, len(features), chunk):
        moments.add(features[start : start + chunk])
    return moments


def symmetric_sqrt_eigenvalues(eigenvalues: tf.Tensor) -> tf.Tensor:
    """The eigenvalues of tfgan's square root of a symmetric matrix with these eigenvalues.

    tfgan takes ``U diag(r(s)) V^T`` of the SVD, ``r(s) = s`` below ``SQRT_EPS`` else
    ``sqrt(s)``; for a symmetric matrix ``s = |lambda|`` and ``V = U sign(lambda)``, so the
    root has eigenvalues ``sign(lambda) r(|lambda|)`` on the same eigenvectors.
    """
    s = tf.abs(eigenvalues)
    return tf.where(s < SQRT_EPS, s, tf.sqrt(s)) * tf.sign(eigenvalues)


class FeatureMoments:
    """Running mean ``m`` and unbiased covariance ``S`` of feature rows, in float64.

    One pass over the rows, added a chunk at a time, so a feature set need not be held to
    get its moments. The sums are of the rows minus the first chunk's mean ``s``; with
    ``d = sum(x - s) / n``: ``m = s + d`` and
    ``S = (sum (x - s)(x - s)^T - n d d^T) / (n - 1)``, which equals the two-pass
    ``sum (x - m)(x - m)^T / (n - 1)`` exactly and, with ``s`` close to ``m``, to round-off.
    """

    def __init__(self) -> None:
        self.count = 0
        self._shift: tf.Tensor | None = None
        self._sum: tf.Tensor | None = None
        self._scatter: tf.Tensor | None = None

    def add(self, rows: np.ndarray) -> None:
        """Add ``rows`` [n, d] to the sums."""
        if not len(rows):
            return
        x = tf.constant(rows, tf.float64)
        if self._shift is None:
            self._shift = tf.reduce_mean(x, 0)
            self._sum = tf.zeros_like(self._shift)
            self._scatter = tf.zeros([x.shape[1], x.shape[1]], tf.float64)
        centred = x - self._shift
        self._sum += tf.reduce_sum(centred, 0)
        self._scatter += tf.matmul(centred, centred, transpose_a=True)
        self.count += len(rows)

    def mean_and_covariance(self) -> tuple[tf.Tensor, tf.Tensor]:
        """``(m, S)`` of the rows added so far (at least 2)."""
        n = self.count
        if n < 2:
            raise ValueError(f"FID needs at least 2 samples per set, got {n}")
        d = self._sum / float(n)
        scatter = self._scatter - float(n) * (d[:, None] * d[None, :])
        return self._shift + d, scatter / float(n - 1)


def sample_in_chunks(
    context: MetricContext, n: int, batch_size: int, chunk_images: int = 256
) -> Iterator[np.ndarray]:
    """``n`` generated images from ``context.sample``, a chunk at a time, range-checked."""
    chunk = batch_size * max(1, -(-chunk_images // batch_size))
    done = 0
    while done < n:
        images = np.asarray(context.sample(min(chunk, n - done)))
        check_range(images)
        done += len(images)
        yield images
