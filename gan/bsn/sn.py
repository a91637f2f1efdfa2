"""Spectral-norm math as pure ``keras.ops`` functions: one power iteration and sigma
(docs/faithfulness.md section 4; fjxmlzn/BSN no_gamma-CNN/gan/sn.py).

For a kernel ``W`` (conv ``[kh, kw, in, out]`` or dense ``[in, out]``) the matrix is
``M = reshape(W, [-1, out])`` and the persistent vector is ``u`` of shape ``[1, out]``.
One power iteration gives ``v = l2n(u M^T)``, ``u' = l2n(v M)`` and
``sigma = v M u'^T``, an estimate of the largest singular value sigma(W). Gradients flow
through ``v`` and ``u'`` (they are functions of ``W``), as in the original. BSN runs the same
on ``W^T`` (the conv kernel with its in/out axes swapped), from its own vector ``u_t``.
"""

from __future__ import annotations

from typing import Any

from keras import ops

L2_EPS = 1e-12


def l2_normalize(x: Any, eps: float = L2_EPS) -> Any:
    """``x / (sqrt(sum x^2) + eps)`` over all elements (the original's epsilon placement)."""
    return x / (ops.sqrt(ops.sum(ops.square(x))) + eps)


def kernel_matrix(w: Any, transpose: bool = False) -> Any:
    """``reshape(W, [-1, out])``; with ``transpose`` the conv kernel's in/out axes swap first."""
    if transpose:
        w = ops.transpose(w, (0, 1, 3, 2))
    return ops.reshape(w, (-1, w.shape[-1]))


def power_iteration(w_mat: Any, u: Any) -> tuple[Any, Any, Any]:
    """One power iteration on ``M = w_mat`` from ``u``; returns ``(sigma, u', v)``.

    ``sigma`` is a scalar, ``u'`` has the shape of ``u`` (``[1, out]``), ``v`` is ``[1, K]``.
    """
    v = l2_normalize(ops.matmul(u, ops.transpose(w_mat)))
    u_new = l2_normalize(ops.matmul(v, w_mat))
    # v M again rather than reused: the gradient then sums the two uses as the original's
    # graph did (the same rounding).
    sigma = ops.matmul(ops.matmul(v, w_mat), ops.transpose(u_new))[0, 0]
    return sigma, u_new, v


def sigma_and_u(w: Any, u: Any, transpose: bool = False) -> tuple[Any, Any]:
    """sigma(W) and the updated ``u'`` for a kernel of any rank (see ``kernel_matrix``)."""
    sigma, u_new, _ = power_iteration(kernel_matrix(w, transpose), u)
    return sigma, u_new
