"""``InceptionRunner``: what the Inception-based callbacks of one run share.

The graph (built per evaluation from parked weights, dropped after it), the fixed FID real
subset, and per metric step one pass of generated samples feeding every registered callback:
IS scores split by split, FID's moments, KID's features.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from gan.errors import MetricError
from gan.metrics.base import MetricCallback, MetricContext
from gan.metrics.inception.graph import (
    INCEPTION_CPU_BATCH,
    IS_NUM_CLASSES,
    InceptionGraph,
    InceptionUnavailable,
    find_inception_graph,
    load_inception_graph_def,
    park_weights,
    remove_quietly,
    spill_path,
    split_weights,
)
from gan.metrics.inception.statistics import (
    FeatureMoments,
    sample_in_chunks,
    split_bounds,
    split_score,
)


class InceptionRunner:
    """What the Inception-based callbacks of one run share: graph, real subset, sample pass.

    ``setup`` resolves the graph once (``on_missing_inception``: "error" raises
    ``InceptionUnavailable``, "skip" logs a warning and leaves ``available`` False) and draws
    the fixed FID real subset: ``fid_num_real`` indices into ``context.real_images`` drawn with
    ``context.rng`` (kept as ``fid_real_indices``), or, for streamed data, that many images from
    ``context.sample_real`` whose pool_3 features are kept (``fid_real_activations``).
    """

    def __init__(self, settings: Any):
        self.graph_setting = settings.inception_graph
        self.batch_size = settings.metric_batch_size
        self.inception_batch_size = inception_batch_size(
            settings.inception_batch_size, settings.metric_batch_size
        )
        self.chunk_images = 256  # generated images held at a time (48 KiB each at 64 px)
        self.on_missing = settings.on_missing_inception
        self.graph_path: str | None = None
        self._graph: InceptionGraph | None = None
        self._split_def: tf.compat.v1.GraphDef | None = None
        self._weights: dict[str, np.ndarray] | None = None  # when they could not be parked
        self._weights_path: str | None = None  # where they are parked
        self.is_samples = 0
        self.is_splits = 1
        self.fid_samples = 0
        self.num_real = 0  # the fixed real subset: set by the callbacks reading it
        self.real_indices: np.ndarray | None = None
        self.real_activations: np.ndarray | None = None
        self._ready = False
        self._consumers: list[MetricCallback] = []
        self._fid_reads: list[tuple[int, bool]] = []  # (fid_samples, features) per callback
        self._real_readers: list[MetricCallback] = []  # callbacks comparing with real images
        self._pending: set[int] = set()
        self._cached_id: int | None = None
        self._cache: dict[str, Any] = {}

    # -- wiring ------------------------------------------------------------------------------

    def register(
        self,
        callback: MetricCallback,
        is_samples: int = 0,
        fid_samples: int = 0,
        is_splits: int = 1,
        features: bool = False,
        reads_real: bool = True,
        num_real: int = 0,
    ) -> None:
        """Declare a callback and the samples it reads: IS scores of ``is_splits`` splits of
        ``is_samples`` logits, or the pool_3 features of ``fid_samples`` (their
        ``FeatureMoments`` only, unless ``features``: then the [fid_samples, 2048] array).
        ``num_real``: the size of the fixed real subset it compares with.

        A callback reading pool_3 features (``fid_samples``) compares them with the fixed real
        subset, unless ``reads_real`` is False (a FID against fixed reference statistics): the
        first callback that reads it saves that subset in the run's state (``owns_state``).
        """
        self._consumers.append(callback)
        if is_samples:
            self.is_samples, self.is_splits = is_samples, is_splits
        self.fid_samples = max(self.fid_samples, fid_samples)
        if fid_samples:
            self._fid_reads.append((fid_samples, features))
            if reads_real:
                self._real_readers.append(callback)
                self.num_real = num_real

    @property
    def keep_features(self) -> bool:
        """Whether a pass keeps the generated features: a callback reads them, or reads
        fewer samples than the moments cover."""
        return any(features or n < self.fid_samples for n, features in self._fid_reads)

    @property
    def keep_moments(self) -> bool:
        """Whether a pass accumulates the features' moments: a callback reads them (FID on
        the whole pass)."""
        return any(not features and n == self.fid_samples for n, features in self._fid_reads)

    def owns_state(self, callback: MetricCallback) -> bool:
        """Whether ``callback`` saves the shared real subset (the first one that reads it)."""
        return bool(self._real_readers) and self._real_readers[0] is callback

    @property
    def needs_real(self) -> bool:
        """Whether a callback compares with the fixed real subset (FID, KID; not a FID
        against fixed reference statistics)."""
        return bool(self._real_readers)

    @property
    def available(self) -> bool:
        return self.graph_path is not None

    @property
    def graph(self) -> InceptionGraph:
        """The Inception graph, built on first use after ``setup`` or ``release``.

        Built when needed rather than in ``setup``, and dropped by ``release`` after each
        evaluation: its weights take memory that training has used and released, instead of
        adding to training's peak or staying among training's buffers between evaluations.
        """
        if self._graph is None:
            if self._split_def is None:
                raise RuntimeError("the Inception graph is not available (setup not called?)")
            if self._weights_path is not None:
                with np.load(self._weights_path) as weights:
                    self._graph = InceptionGraph(
                        self._split_def, self.inception_batch_size, weights=weights
                    )
            else:
                self._graph = InceptionGraph(
                    self._split_def, self.inception_batch_size, weights=self._weights
                )
                self._weights = None
        return self._graph

    def release(self) -> None:
        """Drop the built graph when it can be rebuilt from the parked weights (after an
        evaluation; on CelebA, keeping it made training after the first evaluation ~160 MiB
        larger)."""
        if self._weights_path is not None:
            self._graph = None

    # -- per run -----------------------------------------------------------------------------

    def setup(self, context: MetricContext) -> None:
        """Find and check the graph, park its weights on disk and draw the real subset, once
        per run."""
        if self._ready:
            return
        try:
            path = find_inception_graph(self.graph_setting)
            # A bad file fails here, before any training.
            self._split_def, weights = split_weights(load_inception_graph_def(path))
            self.graph_path = path
            logging.info("Inception graph: %s", path)
        except InceptionUnavailable as e:
            if self.on_missing != "skip":
                raise
            logging.warning(
                "on_missing_inception='skip': Inception metrics are written as NaN in this run. %s",
                e,
            )
        else:
            self._park(weights, context.run_dir)
        self._ready = True
        if not self.needs_real:
            return
        if context.real_images is not None:
            total = len(context.real_images)
            if self.num_real > total:
                raise MetricError(
                    f"fid_num_real = {self.num_real} exceeds the {total} training images"
                )
            # Random order, not sorted: KID's block estimator needs shuffled samples.
            self.real_indices = context.rng.choice(total, self.num_real, replace=False)
        elif self.available:
            real = np.asarray(context.sample_real(self.num_real))
            self.real_activations = self.graph.run(real[context.rng.permutation(len(real))])[1]
            self.release()

    def _park(self, weights: dict[str, np.ndarray], folder: str) -> None:
        """Park the weights in ``folder`` (``park_weights``; the file is deleted when this
        runner is garbage-collected or the process exits), or keep them in memory if that
        fails."""
        path = None
        try:
            path = spill_path(folder)
            park_weights(weights, path)
        except OSError as e:
            if path:
                remove_quietly(path)
            logging.warning(
                "cannot park the Inception weights in %s (%s): they stay in "
                "memory until the first evaluation",
                folder,
                e,
            )
            self._weights = weights
            return
        self._weights_path = path
        weakref.finalize(self, remove_quietly, path)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The real subset: its indices (in-memory data) or its pool_3 features (streamed)."""
        if self.real_indices is not None:
            return {"fid_real_indices": self.real_indices}
        if self.real_activations is not None:
            return {"fid_real_activations": self.real_activations}
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the real subset saved by ``state_arrays``."""
        if "fid_real_indices" in arrays:
            self.real_indices = np.asarray(arrays["fid_real_indices"], dtype=np.int64)
            self.real_activations = None
        elif "fid_real_activations" in arrays:
            self.real_indices = None
            self.real_activations = np.asarray(arrays["fid_real_activations"])

    def real_pool(self, context: MetricContext) -> np.ndarray:
        """pool_3 features of the fixed real subset (computed once per process)."""
        if self.real_activations is None:
            if self.real_indices is None or context.real_images is None:
                raise RuntimeError("the FID real subset was not drawn (setup not called?)")
            if self.real_indices.size and self.real_indices.max() >= len(context.real_images):
                raise MetricError("saved FID real indices exceed the training set size")
            pool = None
            for i in range(0, len(self.real_indices), self.chunk_images):
                chunk = self.graph.run(
                    context.real_images[self.real_indices[i : i + self.chunk_images]]
                )[1]
                if pool is None:
                    pool = np.empty((len(self.real_indices),) + chunk.shape[1:], chunk.dtype)
                pool[i : i + len(chunk)] = chunk
            self.real_activations = pool
        return self.real_activations

    def generated(
        self, context: MetricContext, global_id: int, callback: MetricCallback
    ) -> dict[str, Any]:
        """``is_scores`` (one per IS split) and the pool_3 features of the first
        ``fid_samples``: ``fid_moments`` (``FeatureMoments``) for ``keep_moments``, and
        ``fid_pool`` [fid_samples, 2048] for ``keep_features``.

        The pass runs once per ``global_id``; it is dropped when every registered callback read it.
        """
        if self._cached_id != global_id:
            self._cache = self._run_generated(context)
            self._cached_id = global_id
            self._pending = {id(c) for c in self._consumers}
        out = self._cache
        self._pending.discard(id(callback))
        if not self._pending:
            self._cache, self._cached_id = {}, None
        return out

    def _run_generated(self, context: MetricContext) -> dict[str, Any]:
        """One pass over ``max(is_samples, fid_samples)`` samples. Memory: the moments of
        the pool_3 features (for ``keep_moments``), the features themselves (only for
        ``keep_features``), and the logits of one IS split at a time (scored when complete)."""
        n = max(self.is_samples, self.fid_samples)
        bounds = split_bounds(self.is_samples, self.is_splits) if self.is_samples else []
        split_logits = np.empty(
            (max((b - a for a, b in bounds), default=0), IS_NUM_CLASSES), np.float32
        )
        scores: list[float] = []
        fid_pool: np.ndarray | None = None
        moments = FeatureMoments() if self.keep_moments else None
        done = 0
        for images in sample_in_chunks(context, n, self.batch_size, self.chunk_images):
            lg, pool = self.graph.run(images)
            end = done + len(images)
            if done < self.fid_samples:
                rows = pool[: self.fid_samples - done]
                if moments is not None:
                    moments.add(rows)
                if self.keep_features:
                    if fid_pool is None:
                        fid_pool = np.empty((self.fid_samples,) + pool.shape[1:], np.float32)
                    fid_pool[done : done + len(rows)] = rows
            for a, b in bounds[len(scores) :]:
                lo, hi = max(a, done), min(b, end)
                if lo >= hi:
                    break
                split_logits[lo - a : hi - a] = lg[lo - done : hi - done, :IS_NUM_CLASSES]
                if hi == b:
                    scores.append(split_score(split_logits[: b - a]))
            done = end
        out: dict[str, Any] = {"is_scores": np.asarray(scores)}
        if moments is not None:
            out["fid_moments"] = moments
        if fid_pool is not None:
            out["fid_pool"] = fid_pool
        return out


def inception_batch_size(requested: int, metric_batch_size: int) -> int:
    """Images per Inception forward: the config's ``inception_batch_size`` (``requested``), or
    with 0 (auto) ``INCEPTION_CPU_BATCH`` without a GPU and ``metric_batch_size`` with one. On
    the CPU its activations (~14 MiB per 299x299 image) come out of the memory training
    already holds."""
    if requested:
        return requested
    if tf.config.list_physical_devices("GPU"):
        return metric_batch_size
    return INCEPTION_CPU_BATCH


def shared_runner(settings: Any, shared: dict[str, Any]) -> InceptionRunner:
    """The :class:`InceptionRunner` of a run's metrics (``shared``: one dict per run), made by
    the first Inception-based metric built from its ``settings`` (the Inception keys of
    :data:`gan.metrics.names.COMMON_KEYS`)."""
    if "inception" not in shared:
        shared["inception"] = InceptionRunner(settings)
    return shared["inception"]


class RunnerCallback(MetricCallback):
    """A metric reading an :class:`InceptionRunner`'s shared pass: it sets the runner up,
    releases its graph after an evaluation, and (when it is the runner's first reader of the
    real subset) keeps that subset across a resume."""

    runner: InceptionRunner

    def setup(self, context: MetricContext) -> None:
        self.runner.setup(context)

    def release(self) -> None:
        self.runner.release()

    def state_arrays(self) -> dict[str, np.ndarray]:
        return self.runner.state_arrays() if self.runner.owns_state(self) else {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        if self.runner.owns_state(self):
            self.runner.load_state_arrays(arrays)
