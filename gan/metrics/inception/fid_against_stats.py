"""FID against fixed reference statistics (``fid_reference``) instead of the run's real subset.

The generated features' moments are compared with the ``mu`` and ``sigma`` of a statistics file
(``gan.metrics.fid_stats_file``; written by ``python main.py fid_stats``), so FIDs of different
runs share one reference.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gan.metrics.base import MetricContext
from gan.metrics.fid_stats_file import read_stats
from gan.metrics.inception.callbacks import FrechetInceptionDistance
from gan.metrics.inception.runner import InceptionRunner
from gan.metrics.inception.statistics import FeatureMoments


class FixedMoments(FeatureMoments):
    """Moments given as ``(mu, sigma)`` (a reference file) instead of accumulated rows."""

    def __init__(self, mu: np.ndarray, sigma: np.ndarray):
        super().__init__()
        self.count = -1
        self._mu = tf.constant(mu, tf.float64)
        self._sigma = tf.constant(sigma, tf.float64)

    def mean_and_covariance(self):
        return self._mu, self._sigma


def pool_dim(runner: InceptionRunner) -> int:
    """Width of the runner's pool_3 features (one tiny image through the graph)."""
    dim = int(runner.graph.run(np.zeros((1, 8, 8, 3), np.uint8))[1].shape[1])
    runner.release()
    return dim


class ReferenceFrechetDistance(FrechetInceptionDistance):
    """``fid`` of ``fid_num_samples`` generated images against fixed reference statistics
    (the file ``reference``) instead of the run's real subset."""

    def __init__(self, runner: InceptionRunner, num_samples: int, reference: str):
        super().__init__(runner, num_samples, reads_real=False)
        self.reference = reference
        self.moments: FixedMoments | None = None

    def setup(self, context: MetricContext) -> None:
        read_stats(self.reference)  # a bad file fails before the graph is read
        self.runner.setup(context)
        if self.runner.available:
            self.moments = FixedMoments(*read_stats(self.reference, pool_dim(self.runner)))

    def reference_moments(self, context: MetricContext) -> FixedMoments:
        return self.moments
