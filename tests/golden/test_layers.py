"""The public layers of ``gan.bsn`` against the golden float64 reference, one call each: the
normalized kernel, sigma, the u update and batch norm (output, epsilon, momentum and the
Bessel-corrected moving variance). Keras and NumPy only, so any Keras backend runs them."""

import keras
import numpy as np
import pytest

from tests.golden import port
from tests.golden import reference as ref

pytestmark = [pytest.mark.golden, pytest.mark.portable]

# float32 layers against float64: relative round-off of a few 1e-7 on O(1) values (the noise
# floor table in tests/golden/harness.py), so 1e-5 relative / 1e-6 absolute.
RTOL, ATOL = 1e-5, 1e-6


def _np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


@pytest.mark.parametrize(
    "sn_mode, scale, gamma", [("SN", 1.0, False), ("BSN", 1.0, False), ("BSN", 1.7, True)]
)
def test_sn_conv2d_matches_the_golden_layer(sn_mode, scale, gamma):
    bsn = port.bsn_api()
    layer = bsn.SNConv2D(
        6,
        3,
        strides=2,
        padding="same",
        sn_mode=sn_mode,
        scale=scale,
        learnable_gamma=gamma,
        name="c",
    )
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 5)).astype(np.float32)
    layer.build(x.shape)
    rng = np.random.default_rng(2)
    layer.bias.assign(rng.normal(size=6).astype(np.float32) * 0.1)
    if gamma:
        layer.gamma.assign(1.3)
    y = _np(layer(keras.ops.convert_to_tensor(x)))
    params = {"w": _np(layer.kernel), "b": _np(layer.bias)}
    state = {"u": _np(layer.u), "u_t": None if layer.u_t is None else _np(layer.u_t)}
    assert (state["u_t"] is not None) == (sn_mode == "BSN")
    with ref.float64():
        p, s = ref.f64(params), ref.f64(state)
        w, b = ref.normalized(p, s, scale, 1.3 if gamma else None)
        gold_y = ref.to_numpy(ref.conv(ref.f64(x), w, 2) + b)
        gold_sigmas = ref.to_numpy(ref.layer_sigmas(p, s))
        gold_u = ref.to_numpy(ref.updated_u(p, s))
    np.testing.assert_allclose(y, gold_y, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        [float(_np(v)) for v in layer.sigmas()], gold_sigmas, rtol=RTOL, atol=ATOL
    )
    layer.update_u()
    np.testing.assert_allclose(_np(layer.u), gold_u["u"], rtol=0, atol=ATOL)
    if sn_mode == "BSN":
        np.testing.assert_allclose(_np(layer.u_t), gold_u["u_t"], rtol=0, atol=ATOL)


def test_sn_dense_asked_for_bsn_computes_sn_like_the_golden_layer():
    bsn = port.bsn_api()
    layer = bsn.SNDense(3, sn_mode="BSN", scale=2.0, name="d")
    x = np.random.default_rng(3).normal(size=(4, 7)).astype(np.float32)
    layer.build(x.shape)
    assert layer.u_t is None
    params = {"w": _np(layer.kernel), "b": _np(layer.bias)}
    state = {"u": _np(layer.u), "u_t": None}
    with ref.float64():
        w, b = ref.normalized(ref.f64(params), ref.f64(state), 2.0, None)
        gold = ref.to_numpy(ref.f64(x) @ w + b)
    np.testing.assert_allclose(
        _np(layer(keras.ops.convert_to_tensor(x))), gold, rtol=RTOL, atol=ATOL
    )


def test_batch_norm_matches_the_original_fused_batch_norm():
    """TF1's fused batch norm, as the original ran it: epsilon 1e-5 raised to 1.001e-5,
    momentum 0.9, the moving variance moved towards the Bessel-corrected batch variance. The
    input's variance (~2e-5) is of epsilon's size, so epsilon's value shows in the output."""
    bsn = port.bsn_api()
    bn = bsn.BatchNorm(name="bn")
    x = (np.random.default_rng(4).normal(size=(5, 3, 3, 4)) * 4.5e-3 + 0.3).astype(np.float32)
    bn.build(x.shape)
    rng = np.random.default_rng(5)
    bn.gamma.assign(rng.uniform(0.5, 1.5, 4).astype(np.float32))
    bn.beta.assign(rng.uniform(-0.5, 0.5, 4).astype(np.float32))
    params = {"gamma": _np(bn.gamma), "beta": _np(bn.beta)}
    avg = {"mean": _np(bn.moving_mean), "var": _np(bn.moving_variance)}
    y = _np(bn(keras.ops.convert_to_tensor(x), training=True))
    y = _np(
        bn(keras.ops.convert_to_tensor(x), training=True)
    )  # a second call: the averages move twice
    with ref.float64():
        gold_y, mean, var = ref.batch_norm(ref.f64(x), ref.f64(params))
        gold_avg = ref.to_numpy(ref.moved(ref.f64(avg), mean, var, times=2))
        gold_y = ref.to_numpy(gold_y)
    assert bn.momentum == ref.BN_MOMENTUM
    assert bn.epsilon == pytest.approx(ref.BN_EPSILON, rel=1e-12)
    # y is O(1): 1e-5 absolute is 40x the float32 floor and 10x below epsilon's effect here.
    np.testing.assert_allclose(y, gold_y, rtol=0, atol=1e-5)
    np.testing.assert_allclose(_np(bn.moving_mean), gold_avg["mean"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(_np(bn.moving_variance), gold_avg["var"], rtol=1e-5, atol=1e-9)
