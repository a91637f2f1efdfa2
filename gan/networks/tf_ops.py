"""The task runner's TensorFlow-only speed-ups of the paper's networks: the same values and
gradients as the plain ops of :mod:`gan.bsn.layers`, with less activation memory kept for the
backward pass."""

from __future__ import annotations

import keras
import tensorflow as tf

from gan.bsn.batch_norm import BatchNorm


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
