"""Keras layers of the paper: spectrally normalized conv/dense and the original's batch norm.

``SNConv2D`` and ``SNDense`` keep the raw kernel ``W``, a bias and the power-iteration vector
``u`` (non-trainable). Their forward uses ``scale * W / sigma`` (docs/faithfulness.md
section 4), with ``sigma = sigma(W)`` for SN and ``(sigma(W) + sigma(W^T)) / 2`` for BSN convs,
where ``W^T`` swaps the conv kernel's in/out axes and has its own vector ``u_t``. The forward
never moves ``u``: the trainer calls ``update_u()`` after each discriminator optimizer step.

A learnable gamma (the same_gamma / diff_gamma families) is owned by the network and passed to
``call(..., gain=gamma)``, or owned by the layer itself (``learnable_gamma=True``, one gamma per
layer); it multiplies both the normalized kernel and the bias, as the original's learnable scale
did. The layers are registered for ``.keras`` files (package "bsn"; ``gan.bsn`` is their
public home).

Under a mixed-precision dtype policy (``precision: mixed_bfloat16``) the variables stay float32
and are never autocast: sigma, ``u`` and ``scale * gain * W / sigma`` are computed in float32 and
only the finished kernel and bias are cast to the compute dtype; batch norm computes its
statistics in float32.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from gan import sn
from gan.config import SN_MODES, ConfigError

# TF1's fused batch norm (what the original's tf.contrib batch_norm ran) raised any epsilon
# below this to it, and updated the moving variance with the Bessel-corrected batch variance.
FUSED_BN_MIN_EPSILON = 1.001e-5
FIRST_REPLICA = "only_first_replica"


def leaky_relu(h: tf.Tensor, alpha: float) -> tf.Tensor:
    """``max(h, alpha * h)`` for ``0 < alpha < 1``, keeping only its output for the backward.

    The same values as the original's ``tf.maximum(h, alpha * h)``; the gradient
    (``1`` where ``h > 0``, else ``alpha``) is computed from the output, whose sign is the
    input's, so the pre-activation tensor is freed after the forward pass. That saves one
    activation-sized tensor per layer (about a third of the discriminator's saved
    activations). Second derivatives (the WGAN-GP penalty) are exact: the gradient op's own
    gradient is registered. At exactly ``h == 0`` the slope is ``alpha`` where
    ``tf.maximum`` would give 1, a measure-zero difference.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"leaky_relu needs 0 < alpha < 1, got {alpha}")

    @tf.custom_gradient
    def forward(x):
        y = tf.nn.leaky_relu(x, alpha)

        def backward(dy):
            return tf.raw_ops.LeakyReluGrad(gradients=dy, features=y, alpha=alpha)

        return y, backward

    return forward(h)


def check_sn_mode(sn_mode: str, where: str) -> str:
    """``sn_mode`` if it is one of ``SN_MODES``, else a ConfigError naming the choices."""
    if not isinstance(sn_mode, str) or sn_mode not in SN_MODES:
        raise ConfigError(
            f"{where}: unknown sn_mode {sn_mode!r}; expected one of "
            f"{', '.join(repr(m) for m in SN_MODES)} (SN: W / sigma(W); BSN: "
            f"W / ((sigma(W) + sigma(W^T)) / 2) on convolutions)"
        )
    return sn_mode


def check_scale(scale: float, where: str) -> float:
    """``scale`` as a float if it is a finite positive number, else a ConfigError."""
    ok = (
        isinstance(scale, (int, float))
        and not isinstance(scale, bool)
        and math.isfinite(scale)
        and scale > 0
    )
    if not ok:
        raise ConfigError(
            f"{where}: scale = {scale!r}; expected a positive number (1.0 is "
            f"plain SN/BSN, other values multiply the normalized kernel)"
        )
    return float(scale)


class SpectralNormalized(keras.layers.Layer):
    """Shared machinery of the normalized layers: u vectors, sigma, the u update, gamma.

    ``learnable_gamma``: the layer owns one trainable scalar gamma (initial value 1.0) that
    multiplies its normalized kernel and its bias (used when ``call`` gets no ``gain``).
    """

    _supports_bsn = False

    def __init__(
        self,
        units: int,
        sn_mode: str = "SN",
        scale: float = 1.0,
        kernel_initializer: keras.initializers.Initializer | str = "glorot_uniform",
        learnable_gamma: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        where = f"{type(self).__name__} {kwargs.get('name') or ''}".strip()
        self.units = int(units)
        self.sn_mode = check_sn_mode(sn_mode, where)
        self.scale = check_scale(scale, where)
        self.learnable_gamma = bool(learnable_gamma)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        # BSN applies to convs only; dense layers fall back to plain SN as in the original.
        self.bsn = sn_mode == "BSN" and self._supports_bsn
        # Keras would cast every floating call argument to the compute dtype, the gamma gain
        # included (bfloat16 cannot hold 1 + 2e-4); the input alone is cast in call().
        self._convert_input_args = False

    def _build_sn(self, kernel_shape: tuple[int, ...]) -> None:
        self.kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer=self.kernel_initializer, autocast=False
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.units,), initializer="zeros", autocast=False
        )
        u_init = keras.initializers.TruncatedNormal(mean=0.0, stddev=1.0)
        self.u = None
        self.u_t = None
        self.gamma = None
        if self.learnable_gamma:
            self.gamma = self.add_weight(name="gamma", shape=(), initializer="ones", autocast=False)
        # Under tf.distribute every replica holds the same u: an update made in a replica takes
        # the first replica's value (all compute it from the same mirrored weights).
        if self.sn_mode != "none":
            self.u = self.add_weight(
                name="u",
                shape=(1, kernel_shape[-1]),
                initializer=u_init,
                trainable=False,
                autocast=False,
                aggregation=FIRST_REPLICA,
            )
        if self.bsn:
            self.u_t = self.add_weight(
                name="u_t",
                shape=(1, kernel_shape[-2]),
                initializer=u_init,
                trainable=False,
                autocast=False,
                aggregation=FIRST_REPLICA,
            )

    def _power_iterations(self) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """(sigma, u') for each normalized view of W: [W] for SN, [W, W^T] for BSN."""
        out = []
        if self.u is not None:
            out.append(sn.sigma_and_u(self.kernel, self.u))
        if self.u_t is not None:
            out.append(sn.sigma_and_u(self.kernel, self.u_t, transpose=True))
        return out

    def sigmas(self) -> list[tf.Tensor]:
        """The logged sigmas: [] (none), [sigma] (SN) or [mean, sigma1, sigma2] (BSN)."""
        found = [s for s, _ in self._power_iterations()]
        if len(found) == 2:
            return [(found[0] + found[1]) / 2.0, found[0], found[1]]
        return found

    def _own_gain(self, gain: tf.Tensor | None) -> tf.Tensor | None:
        return self.gamma if gain is None else gain

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        config = super().get_config()
        config.update(
            sn_mode=self.sn_mode,
            scale=self.scale,
            learnable_gamma=self.learnable_gamma,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config

    def normalized_kernel(self, gain: tf.Tensor | None = None) -> tf.Tensor:
        """``scale * gain * W / sigma``: the kernel the forward pass uses."""
        gain = self._own_gain(gain)
        sigmas = self.sigmas()
        w = self.kernel if not sigmas else self.kernel / sigmas[0]
        if self.scale != 1.0:
            w = w * self.scale
        if gain is not None:
            w = w * gain
        return w

    def effective_bias(self, gain: tf.Tensor | None = None) -> tf.Tensor:
        """The bias, times the learnable gamma when there is one."""
        gain = self._own_gain(gain)
        return self.bias if gain is None else self.bias * gain

    def update_u(self) -> None:
        """One power iteration from the current W: ``u <- u'`` (and ``u_t`` for BSN)."""
        new = self._power_iterations()
        targets = [v for v in (self.u, self.u_t) if v is not None]
        for var, (_, u_new) in zip(targets, new, strict=True):
            var.assign(u_new)

    def u_variables(self) -> list[keras.Variable]:
        """The power-iteration vectors of this layer."""
        return [v for v in (self.u, self.u_t) if v is not None]


@keras.saving.register_keras_serializable(package="bsn")
class SNConv2D(SpectralNormalized):
    """2-D convolution (SAME padding) with a spectrally normalized kernel (SN or BSN).

    Computes ``conv(x, scale * gamma * W / s) + gamma * b`` with ``s = sigma(W)`` (SN) or
    ``(sigma(W) + sigma(W^T)) / 2`` (BSN, ``W^T`` the kernel with in/out channels swapped),
    each sigma one power iteration from a stored ``u``; ``u`` moves only in ``update_u()``.
    """

    _supports_bsn = True

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, **kwargs):
        super().__init__(units=filters, **kwargs)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        config = super().get_config()
        config.update(filters=self.units, kernel_size=self.kernel_size, strides=self.strides)
        return config

    def build(self, input_shape):
        k = self.kernel_size
        self._build_sn((k, k, int(input_shape[-1]), self.units))

    def call(self, x, gain=None):
        x = tf.cast(x, self.compute_dtype)
        w = tf.cast(self.normalized_kernel(gain), x.dtype)
        y = tf.nn.conv2d(x, w, strides=self.strides, padding="SAME")
        return tf.nn.bias_add(y, tf.cast(self.effective_bias(gain), x.dtype))

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        s = self.strides
        return (b, None if h is None else -(-h // s), None if w is None else -(-w // s), self.units)


@keras.saving.register_keras_serializable(package="bsn")
class SNDense(SpectralNormalized):
    """Fully connected layer ``x (scale * gamma * W / sigma(W)) + gamma * b``.

    Asked for BSN, a dense layer computes plain SN (one sigma, one ``u``), as the original did:
    BSN's second sigma is defined for convolution kernels only.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(units=units, **kwargs)

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        config = super().get_config()
        config.update(units=self.units)
        return config

    def build(self, input_shape):
        self._build_sn((int(input_shape[-1]), self.units))

    def call(self, x, gain=None):
        x = tf.cast(x, self.compute_dtype)
        w = tf.cast(self.normalized_kernel(gain), x.dtype)
        return tf.matmul(x, w) + tf.cast(self.effective_bias(gain), x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)


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

    def batch_statistics(
        self, x: tf.Tensor, update_stats: bool | int = True
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Training mode's float32 ``(mean, biased variance)`` of ``x`` over all but the last
        axis; moves the moving averages ``int(update_stats)`` times."""
        x = tf.cast(x, tf.float32)  # statistics in float32 under mixed precision
        mean, variance = tf.nn.moments(x, list(range(len(x.shape) - 1)))
        if update_stats:
            n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
            unbiased = variance * n / tf.maximum(n - 1.0, 1.0)
            decay = 1.0 - self.momentum
            # update_stats=k applies the update k times: what k calls on this batch would do.
            for _ in range(int(update_stats)):
                self.moving_mean.assign_sub((self.moving_mean - mean) * decay)
                self.moving_variance.assign_sub((self.moving_variance - unbiased) * decay)
        return mean, variance

    def normalize(
        self,
        x: tf.Tensor,
        mean: tf.Tensor,
        variance: tf.Tensor,
        gamma: tf.Tensor | None = None,
        beta: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """``gamma * (x - mean) / sqrt(variance + eps) + beta`` in float32, in ``x``'s dtype.

        ``gamma`` and ``beta`` default to the layer's variables (tensors may stand in for them
        where a custom gradient must not read variables).
        """
        gamma = self.gamma if gamma is None else gamma
        beta = self.beta if beta is None else beta
        y = tf.nn.batch_normalization(
            tf.cast(x, tf.float32), mean, variance, beta, gamma, self.epsilon
        )
        return tf.cast(y, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def bn_relu_deconv(
    x: tf.Tensor,
    bn: BatchNorm,
    deconv: keras.layers.Conv2DTranspose,
    update_stats: bool | int = True,
    shape: tuple[int, ...] | None = None,
) -> tf.Tensor:
    """``deconv(reshape(relu(bn(x))))`` in training mode, saving only ``x`` for the backward.

    Autodiff of the three ops keeps both ``x`` (for batch norm's gradient) and the ReLU output
    (for the ReLU's and the transposed convolution's gradients). Here the backward recomputes
    the batch norm and ReLU from ``x`` (elementwise work, no convolution) and applies the
    transposed convolution's gradient ops itself, so one activation-sized tensor per
    generator layer fewer stays alive between the forward and the G update. Same values and
    gradients as the plain ops; the moving averages move as ``bn(x, update_stats=...)`` does.
    ``deconv`` must be a SAME-padded ``Conv2DTranspose`` without activation, with a bias.
    """
    mean, variance = bn.batch_statistics(x, update_stats)
    kernel = tf.cast(deconv.kernel, deconv.compute_dtype)
    bias = tf.cast(deconv.bias, deconv.compute_dtype)
    strides = list(deconv.strides)

    def activation(x, mean, variance, gamma, beta):
        h = tf.nn.relu(bn.normalize(x, mean, variance, gamma, beta))
        return h if shape is None else tf.reshape(h, (-1,) + tuple(shape))

    @tf.custom_gradient
    def segment(x, mean, variance, gamma, beta, kernel, bias):
        h = activation(x, mean, variance, gamma, beta)
        batch, height, width, _ = tf.unstack(tf.shape(h))
        out_shape = tf.stack([batch, height * strides[0], width * strides[1], tf.shape(kernel)[-2]])
        y = tf.nn.conv2d_transpose(h, kernel, out_shape, strides, padding="SAME")
        y = tf.nn.bias_add(y, bias)

        def backward(dy):
            # The control dependency keeps the recomputation after dy exists and distinct
            # from the forward's ops (Grappler would otherwise merge the two and keep the
            # forward's batch-norm output alive until the backward).
            with tf.control_dependencies([dy]):
                inputs = [tf.identity(t) for t in (x, mean, variance, gamma, beta)]
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(inputs)
                h = activation(*inputs)
            # The gradients TensorFlow registers for Conv2DBackpropInput (conv2d_transpose).
            dh = tf.nn.conv2d(dy, kernel, strides, padding="SAME")
            dkernel = tf.raw_ops.Conv2DBackpropFilter(
                input=dy,
                filter_sizes=tf.shape(kernel),
                out_backprop=h,
                strides=[1] + strides + [1],
                padding="SAME",
            )
            dbias = tf.reduce_sum(dy, axis=[0, 1, 2])
            return tape.gradient(h, inputs, output_gradients=dh) + [dkernel, dbias]

        return y, backward

    return segment(
        x,
        mean,
        variance,
        tf.convert_to_tensor(bn.gamma),
        tf.convert_to_tensor(bn.beta),
        kernel,
        bias,
    )
