"""Keras layers of the paper, in ``keras.ops``: the spectrally normalized conv and dense layers
(the original's batch norm is :mod:`gan.bsn.batch_norm`; finding and updating the normalized
layers of a model, :mod:`gan.bsn.diagnostics`).

``SNConv2D`` and ``SNDense`` take every argument of ``keras.layers.Conv2D`` / ``Dense`` (with
Keras' defaults) plus ``sn_mode``, ``scale`` and ``learnable_gamma``. They keep the raw kernel
``W``, a bias and the power-iteration vector ``u`` (non-trainable). Their forward uses
``scale * W / sigma`` (docs/faithfulness.md section 4), with ``sigma = sigma(W)`` for SN and
``(sigma(W) + sigma(W^T)) / 2`` for BSN convs, where ``W^T`` swaps the conv kernel's in/out
axes and has its own vector ``u_t``. The forward never moves ``u``: :func:`update_u` (or the
trainer) does, after each discriminator optimizer step.

A learnable gamma (the same_gamma / diff_gamma families) is owned by the network and passed to
``call(..., gain=gamma)``, or owned by the layer itself (``learnable_gamma=True``, one gamma per
layer); it multiplies both the normalized kernel and the bias, as the original's learnable scale
did. The layers are registered for ``.keras`` files (package "bsn").

Under a mixed-precision dtype policy (``precision: mixed_bfloat16``) the variables stay float32
and are never autocast: sigma, ``u`` and ``scale * gain * W / sigma`` are computed in float32 and
only the finished kernel and bias are cast to the compute dtype.

The same code runs under ``KERAS_BACKEND`` tensorflow, jax and torch.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

import gan.bsn.sn as sn
from gan.errors import ConfigError
from gan.modes import SN_MODES

# Under tf.distribute every replica holds the same u and moving statistics: an update made in
# a replica takes the first replica's value.
FIRST_REPLICA = "only_first_replica"


def leaky_relu(h: Any, alpha: float) -> Any:
    """``max(h, alpha * h)`` for ``0 < alpha < 1`` (the original's ``tf.maximum(h, alpha * h)``)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"leaky_relu needs 0 < alpha < 1, got {alpha}")
    return ops.leaky_relu(h, negative_slope=alpha)


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


def _pair(value: int | tuple[int, ...] | list[int], name: str, where: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (Keras' convention for kernel sizes and strides)."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ConfigError(f"{where}: {name} = {value!r}; expected a positive int or two of them")
    return (int(pair[0]), int(pair[1]))


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
        learnable_gamma: bool = False,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        where = f"{type(self).__name__} {kwargs.get('name') or ''}".strip()
        self.units = int(units)
        self.sn_mode = check_sn_mode(sn_mode, where)
        self.scale = check_scale(scale, where)
        self.learnable_gamma = bool(learnable_gamma)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        # BSN applies to convs only; dense layers fall back to plain SN as in the original.
        self.bsn = sn_mode == "BSN" and self._supports_bsn
        # Keras would cast every floating call argument to the compute dtype, the gamma gain
        # included (bfloat16 cannot hold 1 + 2e-4); the input alone is cast in call().
        self._convert_input_args = False

    def __call__(self, inputs, *args, **kwargs):
        # Without Keras' argument conversion a NumPy input stays an array: made a tensor here,
        # as Conv2D / Dense accept one.
        if isinstance(inputs, np.ndarray):
            inputs = ops.convert_to_tensor(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _build_sn(self, kernel_shape: tuple[int, ...]) -> None:
        self.kernel = self.add_weight(
            name="kernel",
            shape=kernel_shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            autocast=False,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                autocast=False,
            )
        u_init = keras.initializers.TruncatedNormal(mean=0.0, stddev=1.0)
        self.u = None
        self.u_t = None
        self.gamma = None
        if self.learnable_gamma:
            self.gamma = self.add_weight(name="gamma", shape=(), initializer="ones", autocast=False)
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

    def _power_iterations(self) -> list[tuple[Any, Any]]:
        """(sigma, u') for each normalized view of W: [W] for SN, [W, W^T] for BSN."""
        out = []
        if self.u is not None:
            out.append(sn.sigma_and_u(self.kernel, self.u))
        if self.u_t is not None:
            out.append(sn.sigma_and_u(self.kernel, self.u_t, transpose=True))
        return out

    def sigmas(self) -> list[Any]:
        """The logged sigmas: [] (none), [sigma] (SN) or [mean, sigma1, sigma2] (BSN)."""
        found = [s for s, _ in self._power_iterations()]
        if len(found) == 2:
            return [(found[0] + found[1]) / 2.0, found[0], found[1]]
        return found

    def _own_gain(self, gain: Any | None) -> Any | None:
        return self.gamma if gain is None else gain

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        config = super().get_config()
        ser = keras.saving.serialize_keras_object
        config.update(
            sn_mode=self.sn_mode,
            scale=self.scale,
            learnable_gamma=self.learnable_gamma,
            activation=keras.activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=ser(self.kernel_regularizer),
            bias_regularizer=ser(self.bias_regularizer),
            kernel_constraint=ser(self.kernel_constraint),
            bias_constraint=ser(self.bias_constraint),
        )
        return config

    def normalized_kernel(self, gain: Any | None = None) -> Any:
        """``scale * gain * W / sigma``: the kernel the forward pass uses."""
        gain = self._own_gain(gain)
        sigmas = self.sigmas()
        w = self.kernel if not sigmas else self.kernel / sigmas[0]
        if self.scale != 1.0:
            w = w * self.scale
        if gain is not None:
            w = w * gain
        return w

    def effective_bias(self, gain: Any | None = None) -> Any | None:
        """The bias (None without one), times the learnable gamma when there is one."""
        gain = self._own_gain(gain)
        if self.bias is None:
            return None
        return self.bias if gain is None else self.bias * gain

    def _finish(self, y: Any, gain: Any | None) -> Any:
        """``activation(y + gamma * b)`` in ``y``'s dtype."""
        bias = self.effective_bias(gain)
        if bias is not None:
            y = y + ops.cast(bias, y.dtype)
        return y if self.activation is None else self.activation(y)

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
    """2-D convolution with a spectrally normalized kernel (SN or BSN), a drop-in for
    ``keras.layers.Conv2D`` (channels_last, ``groups=1``; the same arguments and defaults).

    Computes ``activation(conv(x, scale * gamma * W / s) + gamma * b)`` with ``s = sigma(W)``
    (SN) or ``(sigma(W) + sigma(W^T)) / 2`` (BSN, ``W^T`` the kernel with in/out channels
    swapped), each sigma one power iteration from a stored ``u``; ``u`` moves only in
    ``update_u()``. The paper's discriminators use ``padding="same"`` and a truncated normal
    kernel initializer with stddev 0.02 (CNN) or Glorot-style variance scaling (ResNet); the
    default here is Keras' ``glorot_uniform``. ``.keras`` files whose config has no ``padding``
    load with SAME padding, the padding those layers always used.
    """

    _supports_bsn = True

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = (1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, int] = (1, 1),
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        sn_mode: str = "SN",
        scale: float = 1.0,
        learnable_gamma: bool = False,
        **kwargs,
    ):
        super().__init__(
            units=filters,
            sn_mode=sn_mode,
            scale=scale,
            learnable_gamma=learnable_gamma,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        where = f"SNConv2D {kwargs.get('name') or ''}".strip()
        self.kernel_size = _pair(kernel_size, "kernel_size", where)
        self.strides = _pair(strides, "strides", where)
        self.dilation_rate = _pair(dilation_rate, "dilation_rate", where)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ConfigError(f"{where}: padding = {padding!r}; expected 'valid' or 'same'")
        if data_format not in (None, "channels_last"):
            raise ConfigError(
                f"{where}: data_format = {data_format!r}; only 'channels_last' (NHWC) is "
                f"supported (transpose the images to NHWC)"
            )
        if groups != 1:
            raise ConfigError(f"{where}: groups = {groups!r}; only groups=1 is supported")

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        config = super().get_config()
        config.update(
            filters=self.units,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
            dilation_rate=self.dilation_rate,
            groups=1,
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> SNConv2D:
        """The layer of ``get_config``'s dict; a config without ``padding`` (files written
        before the layer took Conv2D's arguments) means SAME padding."""
        config = dict(config)
        config.setdefault("padding", "same")
        return super().from_config(config)

    def build(self, input_shape):
        kh, kw = self.kernel_size
        self._build_sn((kh, kw, int(input_shape[-1]), self.units))

    def call(self, x, gain=None):
        x = ops.cast(x, self.compute_dtype)
        w = ops.cast(self.normalized_kernel(gain), x.dtype)
        y = ops.conv(
            x,
            w,
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
            dilation_rate=self.dilation_rate,
        )
        return self._finish(y, gain)

    def compute_output_shape(self, input_shape):
        out = [input_shape[0]]
        for size, k, s, d in zip(
            input_shape[1:3], self.kernel_size, self.strides, self.dilation_rate, strict=True
        ):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append(-(-size // s))
            else:
                out.append((size - (k - 1) * d - 1) // s + 1)
        return tuple(out) + (self.units,)


@keras.saving.register_keras_serializable(package="bsn")
class SNDense(SpectralNormalized):
    """Fully connected layer ``activation(x (scale * gamma * W / sigma(W)) + gamma * b)``, a
    drop-in for ``keras.layers.Dense`` (the same arguments and defaults; LoRA and quantization
    are not supported).

    Asked for BSN, a dense layer computes plain SN (one sigma, one ``u``), as the original did:
    BSN's second sigma is defined for convolution kernels only. The paper's discriminators
    initialize the kernel from a normal distribution with stddev 0.02 (CNN) or Glorot-style
    variance scaling (ResNet); the default here is Keras' ``glorot_uniform``.
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        quantization_config: Any = None,
        sn_mode: str = "SN",
        scale: float = 1.0,
        learnable_gamma: bool = False,
        **kwargs,
    ):
        super().__init__(
            units=units,
            sn_mode=sn_mode,
            scale=scale,
            learnable_gamma=learnable_gamma,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        for name, value in (
            ("lora_rank", lora_rank),
            ("lora_alpha", lora_alpha),
            ("quantization_config", quantization_config),
        ):
            if value is not None:
                raise ConfigError(
                    f"SNDense {kwargs.get('name') or ''}: {name} = {value!r}; LoRA and "
                    f"quantization are not supported on a spectrally normalized kernel"
                )

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        config = super().get_config()
        config.update(units=self.units)
        return config

    def build(self, input_shape):
        self._build_sn((int(input_shape[-1]), self.units))

    def call(self, x, gain=None):
        x = ops.cast(x, self.compute_dtype)
        w = ops.cast(self.normalized_kernel(gain), x.dtype)
        return self._finish(ops.matmul(x, w), gain)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)
