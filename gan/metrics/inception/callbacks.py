"""The Inception metrics of ``metrics.csv``: ``InceptionScore`` and
``FrechetInceptionDistance``, both reading one shared :class:`InceptionRunner` pass."""

from __future__ import annotations

import numpy as np

from gan.metrics.base import MetricContext
from gan.metrics.inception.runner import InceptionRunner, RunnerCallback, shared_runner

__all__ = ["FrechetInceptionDistance", "InceptionScore", "shared_runner"]
from gan.metrics.inception.statistics import frechet_distance


class InceptionScore(RunnerCallback):
    """IS of ``is_num_samples`` generated images in ``is_num_splits`` splits (logits[:, :1000])."""

    def __init__(self, runner: InceptionRunner, num_samples: int = 50000, num_splits: int = 10):
        self.runner = runner
        self.num_samples = num_samples
        self.num_splits = num_splits
        runner.register(self, is_samples=num_samples, is_splits=num_splits)

    def columns(self) -> list[str]:
        return ["inception_score_mean", "inception_score_std"]

    def evaluate(self, context: MetricContext, global_id: int) -> dict[str, float]:
        if not self.runner.available:
            return dict.fromkeys(self.columns(), float("nan"))
        scores = self.runner.generated(context, global_id, self)["is_scores"]
        return {
            "inception_score_mean": float(np.mean(scores)),
            "inception_score_std": float(np.std(scores)),
        }


class FrechetInceptionDistance(RunnerCallback):
    """FID: pool_3 of ``fid_num_samples`` generated vs the fixed ``fid_num_real`` real images."""

    def __init__(
        self,
        runner: InceptionRunner,
        num_samples: int = 10000,
        num_real: int = 5000,
        reads_real: bool = True,
    ):
        self.runner = runner
        self.num_samples = num_samples
        runner.register(self, fid_samples=num_samples, num_real=num_real, reads_real=reads_real)

    def columns(self) -> list[str]:
        return ["fid"]

    def reference_moments(self, context: MetricContext):
        """What the generated features are compared with: the fixed real subset's features."""
        return self.runner.real_pool(context)

    def evaluate(self, context: MetricContext, global_id: int) -> dict[str, float]:
        if not self.runner.available:
            return {"fid": float("nan")}
        out = self.runner.generated(context, global_id, self)
        # The moments cover the runner's fid_samples; a smaller count reads the features.
        fake = (
            out["fid_moments"]
            if self.num_samples == self.runner.fid_samples
            else out["fid_pool"][: self.num_samples]
        )
        return {"fid": frechet_distance(self.reference_moments(context), fake)}
