"""Spectral-norm math as pure functions: one power iteration and sigma (docs/faithfulness.md
section 4).

For a kernel ``W`` (conv ``[kh, kw, in, out]`` or dense ``[in, out]``) the matrix is
``M = reshape(W, [-1, out])`` and the persistent vector is ``u`` of shape ``[1, out]``.
One power iteration gives ``v = l2n(u M^T)``, ``u' = l2n(v M)`` and
``sigma = v M u'^T``, an estimate of the largest singular value sigma(W). Gradients flow
through ``v`` and ``u'`` (they are functions of ``W``), as in the original.
"""

from __future__ import annotations

import tensorflow as tf

L2_EPS = 1e-12


def l2_normalize(x: tf.Tensor, eps: float = L2_EPS) -> tf.Tensor:
    """``x / (||x||_2 + eps)`` over all elements (the original's epsilon placement)."""
    return x / (tf.sqrt(tf.reduce_sum(tf.square(x))) + eps)


def kernel_matrix(w: tf.Tensor, transpose: bool = False) -> tf.Tensor:
    """``reshape(W, [-1, out])``; with ``transpose`` the conv kernel's in/out axes swap first."""
    if transpose:
        w = tf.transpose(w, [0, 1, 3, 2])
    return tf.reshape(w, [-1, w.shape[-1]])


def power_iteration(w_mat: tf.Tensor, u: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One power iteration on ``M = w_mat`` from ``u``; returns ``(sigma, u', v)``.

    ``sigma`` is a scalar, ``u'`` has the shape of ``u`` (``[1, out]``), ``v`` is ``[1, K]``.
    """
    v = l2_normalize(tf.matmul(u, w_mat, transpose_b=True))
    u_new = l2_normalize(tf.matmul(v, w_mat))
    sigma = tf.matmul(tf.matmul(v, w_mat), u_new, transpose_b=True)[0, 0]
    return sigma, u_new, v


def sigma_and_u(w: tf.Tensor, u: tf.Tensor, transpose: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
    """sigma(W) and the updated ``u'`` for a kernel of any rank (see ``kernel_matrix``)."""
    sigma, u_new, _ = power_iteration(kernel_matrix(w, transpose), u)
    return sigma, u_new
