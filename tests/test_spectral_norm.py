"""The spectral-norm math and layers pin down docs/faithfulness.md section 4."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan.bsn import sn
from gan.layers import SNConv2D, SNDense, leaky_relu


def _converge(layer, steps=300):
    for _ in range(steps):
        layer.update_u()


def _top_sv(mat):
    return np.linalg.svd(mat, compute_uv=False)[0]


@pytest.mark.parametrize("kind", ["conv", "dense"])
def test_sn_sigma_converges_to_largest_singular_value(kind):
    tf.random.set_seed(0)
    if kind == "conv":
        layer = SNConv2D(5, 3, padding="same", sn_mode="SN")
        layer.build((None, 8, 8, 4))
        mat = layer.kernel.numpy().reshape(-1, 5)
    else:
        layer = SNDense(6, sn_mode="SN")
        layer.build((None, 7))
        mat = layer.kernel.numpy()
    _converge(layer)
    (sigma,) = layer.sigmas()
    np.testing.assert_allclose(float(sigma), _top_sv(mat), rtol=1e-4)
    w_bar = layer.normalized_kernel().numpy().reshape(mat.shape)
    np.testing.assert_allclose(_top_sv(w_bar), 1.0, rtol=1e-4)


def test_bsn_second_sigma_is_that_of_the_transposed_kernel():
    tf.random.set_seed(1)
    layer = SNConv2D(6, 3, padding="same", sn_mode="BSN")
    layer.build((None, 8, 8, 4))
    _converge(layer)
    mean, s1, s2 = (float(s) for s in layer.sigmas())
    w = layer.kernel.numpy()
    assert s1 == pytest.approx(_top_sv(w.reshape(-1, 6)), rel=1e-4)
    assert s2 == pytest.approx(_top_sv(w.transpose(0, 1, 3, 2).reshape(-1, 4)), rel=1e-4)
    assert s1 != pytest.approx(s2, rel=1e-3)
    assert mean == pytest.approx((s1 + s2) / 2)
    np.testing.assert_allclose(layer.normalized_kernel().numpy(), w / mean, rtol=1e-6)
    assert layer.u.shape == (1, 6) and layer.u_t.shape == (1, 4)


def test_bsn_dense_falls_back_to_plain_sn():
    layer = SNDense(3, sn_mode="BSN")
    layer.build((None, 5))
    assert layer.u_t is None and len(layer.sigmas()) == 1


def test_scale_multiplies_the_normalized_kernel_but_not_the_bias():
    tf.random.set_seed(2)
    a = SNConv2D(4, 3, padding="same", sn_mode="SN", scale=1.0)
    b = SNConv2D(4, 3, padding="same", sn_mode="SN", scale=2.5)
    for layer in (a, b):
        layer.build((None, 6, 6, 3))
    b.set_weights(a.get_weights())
    b.bias.assign(tf.ones_like(b.bias))
    a.bias.assign(tf.ones_like(a.bias))
    np.testing.assert_allclose(
        b.normalized_kernel().numpy(), 2.5 * a.normalized_kernel().numpy(), rtol=1e-6
    )
    x = tf.random.normal([2, 6, 6, 3])
    np.testing.assert_allclose(
        (b(x) - 1.0).numpy(), 2.5 * (a(x) - 1.0).numpy(), rtol=1e-4, atol=1e-5
    )


def test_gain_multiplies_kernel_and_bias_and_gain_one_is_identity():
    # Seeded so that no output is near 0, where round-off alone could miss rtol (it did with
    # unseeded weights and inputs); with seed 11 the smallest output is 2.8.
    keras.utils.set_random_seed(11)
    layer = SNDense(3, sn_mode="SN")
    layer.build((None, 4))
    layer.bias.assign([0.5, -1.0, 2.0])
    x = tf.random.normal([5, 4])
    np.testing.assert_allclose(layer(x, gain=tf.constant(1.0)).numpy(), layer(x).numpy())
    np.testing.assert_allclose(
        layer(x, gain=tf.constant(3.0)).numpy(), 3 * layer(x).numpy(), rtol=1e-5
    )


def test_forward_and_sigma_never_move_u():
    layer = SNConv2D(4, 3, padding="same", sn_mode="BSN")
    layer.build((None, 6, 6, 3))
    before = [v.numpy().copy() for v in layer.u_variables()]
    layer(tf.random.normal([2, 6, 6, 3]))
    layer.sigmas()
    for b, v in zip(before, layer.u_variables(), strict=True):
        np.testing.assert_array_equal(b, v.numpy())
    layer.update_u()
    for b, v in zip(before, layer.u_variables(), strict=True):
        assert not np.allclose(b, v.numpy())


def test_power_iteration_matches_numpy_formula():
    rng = np.random.default_rng(3)
    m = rng.standard_normal((7, 4))
    u = rng.standard_normal((1, 4))
    sigma, u_new, v = sn.power_iteration(tf.constant(m), tf.constant(u))
    v_ref = u @ m.T
    v_ref = v_ref / (np.sqrt((v_ref**2).sum()) + 1e-12)
    u_ref = v_ref @ m
    u_ref = u_ref / (np.sqrt((u_ref**2).sum()) + 1e-12)
    np.testing.assert_allclose(v.numpy(), v_ref, rtol=1e-12)
    np.testing.assert_allclose(u_new.numpy(), u_ref, rtol=1e-12)
    assert float(sigma) == pytest.approx(float((v_ref @ m @ u_ref.T)[0, 0]), rel=1e-12)


@pytest.mark.parametrize("mode", ["SN", "BSN"])
def test_kernel_gradient_matches_finite_differences_through_sigma(mode):
    """The analytic gradient includes the sigma/u'/v path; a stop-gradient would fail."""
    layer = SNConv2D(3, 2, padding="same", sn_mode=mode, dtype="float64")
    layer.build((None, 4, 4, 2))
    x = tf.constant(np.random.default_rng(4).standard_normal((2, 4, 4, 2)))
    probe = tf.constant(np.random.default_rng(5).standard_normal((2, 4, 4, 3)))

    def f():
        return tf.reduce_sum(layer(x) * probe)

    with tf.GradientTape() as tape:
        out = f()
    grad = tape.gradient(out, layer.kernel).numpy()

    w0 = layer.kernel.numpy()
    eps = 1e-6
    numeric = np.zeros_like(w0)
    for idx in np.ndindex(w0.shape):
        for sign in (1, -1):
            w = w0.copy()
            w[idx] += sign * eps
            layer.kernel.assign(w)
            numeric[idx] += sign * float(f()) / (2 * eps)
    layer.kernel.assign(w0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)

    # The same function with sigma treated as a constant has a clearly different gradient.
    with tf.GradientTape() as tape:
        sig = tf.stop_gradient(layer.sigmas()[0])
        y = tf.nn.conv2d(x, layer.kernel / sig, 1, "SAME") + layer.bias
        stopped = tape.gradient(tf.reduce_sum(y * probe), layer.kernel).numpy()
    assert np.abs(stopped - numeric).max() > 1e-3 * np.abs(numeric).max()


def test_unknown_sn_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown sn_mode 'XSN'"):
        SNConv2D(3, 3, padding="same", sn_mode="XSN")


def test_leaky_relu_matches_the_maximum_form_in_value_gradient_and_second_order():
    """Forward, input/weight gradients and a WGAN-GP style double backward all agree."""
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(4, 6, 6, 3)), tf.float32)
    w = tf.Variable(rng.normal(size=(3, 3, 3, 5)), dtype=tf.float32)

    def penalty(act):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                h = act(tf.nn.conv2d(x, w, 1, "SAME"))
                out = tf.reduce_sum(act(h) * h)
            gx = inner.gradient(out, x)
            gp = tf.reduce_sum(tf.square(gx))
        return h, gx, gp, outer.gradient(gp, w)

    ours = penalty(lambda h: leaky_relu(h, 0.1))
    theirs = penalty(lambda h: tf.maximum(h, 0.1 * h))
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
    assert float(tf.reduce_sum(tf.abs(ours[3]))) > 0.0


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.2])
def test_leaky_relu_rejects_a_slope_outside_zero_one(alpha):
    with pytest.raises(ValueError, match="0 < alpha < 1"):
        leaky_relu(tf.ones([2]), alpha)
