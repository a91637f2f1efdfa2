"""The original's batch norm in ``keras.ops`` (TF1's fused batch-norm rules; docs/faithfulness.md
section 3): for generators. Under mixed precision its statistics are computed in float32. The
same code runs under ``KERAS_BACKEND`` tensorflow, jax and torch.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from gan.bsn.layers import FIRST_REPLICA
from gan.modes import FUSED_BN_MIN_EPSILON


def moments(x: Any, axes: list[int]) -> tuple[Any, Any]:
    """Mean and biased variance of ``x`` over ``axes`` (``tf.nn.moments``' formula on every
    backend: the variance's gradient does not flow through the mean)."""
    mean = ops.mean(x, axis=axes, keepdims=True)
    variance = ops.mean(ops.square(x - ops.stop_gradient(mean)), axis=axes, keepdims=True)
    return ops.squeeze(mean, axis=axes), ops.squeeze(variance, axis=axes)


@keras.saving.register_keras_serializable(package="bsn")
class BatchNorm(keras.layers.Layer):
    """Batch normalization as the original ran it (TF1 fused batch norm, updates in place).

    Training mode normalizes with the biased batch variance; the moving averages
    (``m <- momentum * m + (1 - momentum) * batch``) use the Bessel-corrected variance and are
    updated on every training call unless ``update_stats=False`` (an integer k applies the
    update k times, as k calls on the same batch would). Inference uses the moving averages.
    ``epsilon`` is raised to TF1's fused minimum 1.001e-5.
    """

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.epsilon = max(float(epsilon), FUSED_BN_MIN_EPSILON)

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        config = super().get_config()
        config.update(momentum=self.momentum, epsilon=self.epsilon)
        return config

    def build(self, input_shape):
        c = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(c,), initializer="ones", autocast=False)
        self.beta = self.add_weight(name="beta", shape=(c,), initializer="zeros", autocast=False)
        # Per-replica batch norm under tf.distribute: the moving averages follow the first
        # replica's batch (the original ran the first tower's update ops only).
        self.moving_mean = self.add_weight(
            name="moving_mean",
            shape=(c,),
            initializer="zeros",
            trainable=False,
            autocast=False,
            aggregation=FIRST_REPLICA,
        )
        self.moving_variance = self.add_weight(
            name="moving_variance",
            shape=(c,),
            initializer="ones",
            trainable=False,
            autocast=False,
            aggregation=FIRST_REPLICA,
        )

    def call(self, x, training=False, update_stats=True):
        if not training:
            return self.normalize(x, self.moving_mean, self.moving_variance)
        mean, variance = self.batch_statistics(x, update_stats)
        return self.normalize(x, mean, variance)

    def batch_statistics(self, x: Any, update_stats: bool | int = True) -> tuple[Any, Any]:
        """Training mode's float32 ``(mean, biased variance)`` of ``x`` over all but the last
        axis; moves the moving averages ``int(update_stats)`` times."""
        x = ops.cast(x, "float32")  # statistics in float32 under mixed precision
        mean, variance = moments(x, list(range(len(x.shape) - 1)))
        if update_stats:
            n = ops.cast(ops.size(x), x.dtype) / float(x.shape[-1])
            unbiased = variance * n / ops.maximum(n - 1.0, 1.0)
            decay = 1.0 - self.momentum
            # update_stats=k applies the update k times: what k calls on this batch would do.
            for _ in range(int(update_stats)):
                self.moving_mean.assign_sub((self.moving_mean - mean) * decay)
                self.moving_variance.assign_sub((self.moving_variance - unbiased) * decay)
        return mean, variance

    def normalize(
        self,
        x: Any,
        mean: Any,
        variance: Any,
        gamma: Any | None = None,
        beta: Any | None = None,
    ) -> Any:
        """``gamma * (x - mean) / sqrt(variance + eps) + beta`` in float32, in ``x``'s dtype.

        ``gamma`` and ``beta`` default to the layer's variables (tensors may stand in for them
        where a custom gradient must not read variables).
        """
        gamma = self.gamma if gamma is None else gamma
        beta = self.beta if beta is None else beta
        x32 = ops.cast(x, "float32")
        inv = ops.rsqrt(variance + self.epsilon) * gamma
        y = x32 * inv + (beta - mean * inv)
        return ops.cast(y, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
