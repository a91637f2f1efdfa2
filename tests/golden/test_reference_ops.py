"""The reference's convolutions follow TensorFlow's padding rules: its SAME conv and its
transposed conv (defined as the conv's input gradient) equal ``tf.nn.conv2d`` and
``tf.nn.conv2d_transpose``, which the original called, in float64 (TensorFlow only)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.golden import reference as ref

pytestmark = pytest.mark.golden


# (3, 2, 8) and (4, 2, 7) pad asymmetrically: TF puts the odd pixel at the bottom/right.
@pytest.mark.parametrize(
    "k, stride, size", [(3, 1, 5), (4, 2, 8), (3, 2, 7), (3, 2, 8), (4, 2, 7), (1, 1, 4)]
)
def test_reference_conv_and_transposed_conv_equal_tensorflow(k, stride, size):
    rng = np.random.default_rng(k * 10 + stride)
    x = rng.normal(size=(2, size, size, 3))
    w = rng.normal(size=(k, k, 3, 5))
    y_tf = tf.nn.conv2d(x, w, strides=stride, padding="SAME").numpy()
    h = rng.normal(size=(2, 4, 4, 5))
    wt = rng.normal(size=(k, k, 3, 5))  # [kh, kw, out, in] for the transposed conv
    t_tf = tf.nn.conv2d_transpose(
        h, wt, (2, 4 * stride, 4 * stride, 3), strides=stride, padding="SAME"
    ).numpy()
    with ref.float64():
        y = ref.to_numpy(ref.conv(ref.f64(x), ref.f64(w), stride))
        t = ref.to_numpy(ref.deconv(ref.f64(h), ref.f64(wt), stride))
    np.testing.assert_allclose(y, y_tf, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t, t_tf, rtol=1e-12, atol=1e-12)
