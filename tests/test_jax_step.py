"""BSNGAN's JAX step: transposed convolutions keep Keras' gradient and take it in the form
XLA:CPU runs fast (gan/bsn/steps/jax_conv.py). Run in a process with ``KERAS_BACKEND=jax``."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHECK = r"""
import jax, jax.numpy as jnp, keras, numpy as np
from gan import bsn
from gan.bsn.steps import jax_conv

# 1. The same value and gradients as Keras' own op, in every argument form.
rng = np.random.default_rng(0)
for x_shape, w_shape, strides, padding, output_padding, dilation in [
    ((2, 4, 4, 8), (4, 4, 5, 8), 2, "same", None, 1),
    ((2, 5, 5, 8), (3, 3, 5, 8), [2, 2], "valid", None, 1),
    ((2, 5, 5, 8), (3, 3, 5, 8), 2, "same", 1, 1),
    ((2, 6, 6, 3), (3, 3, 4, 3), 1, "same", None, 2),
    ((2, 6, 6, 8), (4, 4, 5, 8), (2, 1), "same", None, 1),
]:
    x = jnp.asarray(rng.standard_normal(x_shape, dtype=np.float32))
    w = jnp.asarray(rng.standard_normal(w_shape, dtype=np.float32))
    def loss(x, w):
        y = keras.ops.conv_transpose(
            x, w, strides, padding, output_padding=output_padding, dilation_rate=dilation
        )
        return jnp.sum(jnp.sin(y))
    want = jax.value_and_grad(loss, argnums=(0, 1))(x, w)
    with jax_conv.fast_conv_transpose_gradient():
        got = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(x, w)
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-4)

# 2. The step's jaxpr: no convolution with lhs_dilation yields a transposed conv's kernel
# gradient (XLA:CPU runs those through a naive loop).
g = keras.Sequential([
    keras.Input((8,)), keras.layers.Dense(2 * 2 * 8), keras.layers.Reshape((2, 2, 8)),
    keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same"),
    keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh"),
])
d = keras.Sequential([keras.Input((8, 8, 3)), bsn.SNConv2D(4, 3, padding="same"),
                      keras.layers.Flatten(), bsn.SNDense(1)])
gan = bsn.BSNGAN(g, d)
gan.compile(d_optimizer=keras.optimizers.Adam(), g_optimizer=keras.optimizers.Adam())
state = (
    [v.value for v in gan.trainable_variables],
    [v.value for v in gan.non_trainable_variables],
    [v.value for v in gan.optimizer.variables],
    [v.value for v in gan.metrics_variables],
)
jaxpr = jax.make_jaxpr(gan.train_step)(state, jnp.zeros((4, 8, 8, 3)))
kernels = [sorted(layer.kernel.shape) for layer in g.layers if hasattr(layer, "kernel")]

def convs(jaxpr):
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "conv_general_dilated":
            yield eqn
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from convs(inner)

found = list(convs(jaxpr.jaxpr))
assert len(found) > 10, len(found)
slow = [
    e for e in found
    if any(s > 1 for s in e.params["lhs_dilation"])
    and sorted(e.outvars[0].aval.shape) in kernels
]
assert not slow, [(e.params, e.outvars[0].aval.shape) for e in slow]

# 3. A Keras without the private JAX conv_transpose: one warning, Keras' op left as it is.
import warnings
from keras.src.backend.jax import nn as keras_jax_nn
keep, jax_conv.keras_jax_nn = jax_conv.keras_jax_nn, None
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with jax_conv.fast_conv_transpose_gradient():
        assert keras_jax_nn.conv_transpose is jax_conv._KERAS_CONV_TRANSPOSE
assert [str(w.message) for w in caught if "conv_transpose" in str(w.message)], caught
jax_conv.keras_jax_nn = keep
print("ok")
"""


def test_jax_step_takes_transposed_conv_kernel_gradients_as_strided_convolutions():
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout + out.stderr
