"""Transposed convolutions whose kernel gradient XLA:CPU runs fast, for the JAX step.

JAX differentiates ``jax.lax.conv_transpose`` (a convolution with ``lhs_dilation`` = strides)
with respect to its kernel into another convolution with ``lhs_dilation``, which XLA:CPU does
not hand to its Eigen convolution kernels but runs through a naive loop: at the paper's CNN
generator (batch 64) that one gradient takes most of the JAX step (docs/benchmarks.md). The
same gradient follows from the adjoint: for ``y = convT(x, W)``, ``<convT(x, W), g> = <x,
A(W) g>`` with ``A(W)`` the transpose of ``x -> convT(x, W)``, a strided forward convolution;
so ``dx = A(W) g`` and ``dW`` is the kernel gradient of that strided convolution at cotangent
``x``, the form XLA runs well. The forward and the math are Keras' own; only the order of the
floating-point sums in ``dW`` changes.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator
from typing import Any

import jax
import keras

try:  # Keras' private JAX backend, as in the pinned Keras (requirements.txt)
    from keras.src.backend.jax import core as keras_jax_core
    from keras.src.backend.jax import nn as keras_jax_nn

    _KERAS_CONV_TRANSPOSE = keras_jax_nn.conv_transpose
except (ImportError, AttributeError):  # another Keras: the step runs Keras' own gradient
    keras_jax_core = keras_jax_nn = _KERAS_CONV_TRANSPOSE = None


def _adjoint(g: Any, kernel: Any, x_shape: Any, options: tuple) -> Any:
    """``A(W) g``: the transpose of ``x -> convT(x, W)`` applied to ``g``."""
    transpose = jax.linear_transpose(
        lambda x: _KERAS_CONV_TRANSPOSE(x, kernel, **dict(options)), x_shape
    )
    return transpose(g)[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_transpose(inputs: Any, kernel: Any, options: tuple) -> Any:
    return _KERAS_CONV_TRANSPOSE(inputs, kernel, **dict(options))


def _forward(inputs: Any, kernel: Any, options: tuple) -> tuple:
    return _conv_transpose(inputs, kernel, options), (inputs, kernel)


def _backward(options: tuple, residuals: tuple, g: Any) -> tuple:
    inputs, kernel = residuals
    x_shape = jax.ShapeDtypeStruct(inputs.shape, inputs.dtype)
    dx, adjoint_vjp = jax.vjp(lambda w: _adjoint(g, w, x_shape, options), kernel)
    (dw,) = adjoint_vjp(inputs)
    return dx, dw


_conv_transpose.defvjp(_forward, _backward)


def conv_transpose(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Any:
    """Keras' JAX ``conv_transpose`` (same arguments, same forward) with the kernel gradient
    taken through the adjoint strided convolution."""
    # custom_vjp's static arguments: lists (Keras accepts them) become tuples.
    options = tuple(
        (name, tuple(value) if isinstance(value, list) else value)
        for name, value in (
            ("strides", strides),
            ("padding", padding),
            ("output_padding", output_padding),
            ("data_format", data_format),
            ("dilation_rate", dilation_rate),
        )
    )
    inputs = keras_jax_core.convert_to_tensor(inputs)
    kernel = keras_jax_core.convert_to_tensor(kernel)
    return _conv_transpose(inputs, kernel, options)


@contextlib.contextmanager
def fast_conv_transpose_gradient() -> Iterator[None]:
    """Within the block, ``keras.ops.conv_transpose`` on JAX (and so every
    ``keras.layers.Conv2DTranspose``) takes its kernel gradient through the adjoint. With a
    Keras whose JAX backend has no ``keras.src.backend.jax.nn.conv_transpose``, it warns and
    changes nothing: the same values, at XLA:CPU's slower speed."""
    if keras_jax_nn is None:
        warnings.warn(
            f"keras {keras.__version__} has no keras.src.backend.jax.nn.conv_transpose: "
            "transposed convolutions keep JAX's own kernel gradient (same values; on the CPU "
            "several times slower); keras==3.15.1 (requirements.txt) has it",
            stacklevel=3,
        )
        yield
        return
    keras_jax_nn.conv_transpose = conv_transpose
    try:
        yield
    finally:
        keras_jax_nn.conv_transpose = _KERAS_CONV_TRANSPOSE
