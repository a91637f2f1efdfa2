"""KID, a metric beyond the original (off by default).

``kid``: tensorflow-gan's ``kernel_classifier_distance_from_activations`` (cubic polynomial
kernel, unbiased block estimator, ``max_block_size`` 1024) on the Inception pool_3 features of
the same samples FID uses (``fid_num_samples`` generated vs the fixed ``fid_num_real`` real
images; one Inception pass serves IS, FID and KID). Needs the Inception graph; with
``on_missing_inception = "skip"`` and no graph it is NaN like IS and FID.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gan.metrics.base import MetricContext
from gan.metrics.inception.runner import InceptionRunner, RunnerCallback
from gan.tfgan import tfgan_eval


def kernel_distance(
    activations1: np.ndarray, activations2: np.ndarray, max_block_size: int = 1024
) -> float:
    """KID: tensorflow-gan's ``kernel_classifier_distance_from_activations`` in float64."""
    kid = tfgan_eval().kernel_classifier_distance_from_activations
    return float(
        kid(
            tf.constant(activations1, tf.float64),
            tf.constant(activations2, tf.float64),
            max_block_size=max_block_size,
        )
    )


class KernelInceptionDistance(RunnerCallback):
    """KID on pool_3 features: ``fid_num_samples`` generated vs the fixed FID real subset."""

    def __init__(
        self,
        runner: InceptionRunner,
        num_samples: int = 10000,
        num_real: int = 5000,
        max_block_size: int = 1024,
    ):
        self.runner = runner
        self.num_samples = num_samples
        self.max_block_size = max_block_size
        runner.register(self, fid_samples=num_samples, num_real=num_real, features=True)

    def columns(self) -> list[str]:
        return ["kid"]

    def evaluate(self, context: MetricContext, global_id: int) -> dict[str, float]:
        if not self.runner.available:
            return {"kid": float("nan")}
        fake = self.runner.generated(context, global_id, self)["fid_pool"][: self.num_samples]
        return {"kid": kernel_distance(self.runner.real_pool(context), fake, self.max_block_size)}
