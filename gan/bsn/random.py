"""Counter-based random draws that give the same numbers on every Keras backend.

``keras.random`` draws different numbers for the same seed on tensorflow, jax and torch. The
draws here hash a key ``(seed, index)`` and each element's position with integer
``keras.ops`` only (32-bit words as two 16-bit halves in int32, so no product overflows on any
backend), so a run trained on one backend and resumed on another draws what it would have
drawn. Uniforms have 24 random bits; normals are Box-Muller pairs of uniforms (their float32
``log``/``cos`` may differ in the last bit between backends).
"""

from __future__ import annotations

import math
from typing import Any

from keras import ops

_M16 = 0xFFFF
# Odd 32-bit multipliers whose 16-bit halves are below 2**15 (every product fits in int32).
_MULTIPLIERS = (0x2C1B3C6D, 0x297A2D39, 0x1B873593)


def _mul(hi: Any, lo: Any, c: int) -> tuple[Any, Any]:
    """``(hi * 2**16 + lo) * c mod 2**32`` as 16-bit halves."""
    ch, cl = c >> 16, c & _M16
    p = lo * cl
    new_lo = ops.bitwise_and(p, _M16)
    carry = ops.right_shift(p, 16)
    new_hi = carry + ops.bitwise_and(hi * cl, _M16) + ops.bitwise_and(lo * ch, _M16)
    return ops.bitwise_and(new_hi, _M16), new_lo


def _hash(hi: Any, lo: Any) -> tuple[Any, Any]:
    """A 32-bit mixing function (xor-shift by 16, multiply, three times) on 16-bit halves."""
    for c in _MULTIPLIERS:
        lo = ops.bitwise_xor(lo, hi)
        hi, lo = _mul(hi, lo, c)
    return hi, ops.bitwise_xor(lo, hi)


def _halves(x: Any) -> tuple[Any, Any]:
    """A non-negative integer below 2**31 (tensor or int) as int32 16-bit halves."""
    x = ops.cast(x, "int32")
    return ops.right_shift(x, 16), ops.bitwise_and(x, _M16)


def uniform_bits(seed: int, index: Any, n: int) -> Any:
    """``n`` hashed 24-bit integers (int32) of key ``(seed, index)``."""
    s_hi, s_lo = _hash(*_halves(seed % 2**31))
    i_hi, i_lo = _halves(ops.mod(ops.cast(index, "int32"), 2**31 - 1))
    k_hi, k_lo = _hash(ops.bitwise_xor(s_hi, i_hi), ops.bitwise_xor(s_lo, i_lo))
    p_hi, p_lo = _halves(ops.arange(n, dtype="int32"))
    hi, lo = _hash(ops.bitwise_xor(p_hi, k_hi), ops.bitwise_xor(p_lo, k_lo))
    return hi * 256 + ops.right_shift(lo, 8)


def _count(shape: tuple) -> Any:
    """The element count of ``shape`` (ints, or a tensor for a batch size unknown when traced)."""
    n = 1
    for size in shape:
        n = n * size
    return n


def uniform(seed: int, index: Any, shape: tuple) -> Any:
    """float32 draws from U[0, 1) of ``shape``, key ``(seed, index)``."""
    n = _count(shape)
    bits = uniform_bits(seed, index, n)
    return ops.reshape(ops.cast(bits, "float32") * (1.0 / 2**24), shape)


def normal(seed: int, index: Any, shape: tuple) -> Any:
    """float32 draws from N(0, 1) of ``shape``, key ``(seed, index)``."""
    n = _count(shape)
    u = ops.cast(uniform_bits(seed, index, 2 * n), "float32") * (1.0 / 2**24)
    radius = ops.sqrt(-2.0 * ops.log(1.0 - u[:n]))
    return ops.reshape(radius * ops.cos((2.0 * math.pi) * u[n:]), shape)
