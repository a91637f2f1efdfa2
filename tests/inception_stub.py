"""A tiny frozen graph with the Inception tensor names, for tests and benchmarks only."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gan.metrics.inception.graph import INCEPTION_SIZE


def stub_inception_graph_def(depth: int = 16, seed: int = 0) -> tf.compat.v1.GraphDef:
    """A small frozen graph with the Inception tensor names, for tests and benchmarks only.

    ``pool_3`` [N, 1, 1, depth]: the first 3 entries are the per-channel means of ``Mul``'s
    input (so the pixel path can be checked exactly), the rest means of ReLU(1x1 conv);
    ``logits`` [N, 1008] = pool_3 @ W + b. Values mean nothing about image quality.
    """
    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(
            tf.float32, [None, INCEPTION_SIZE, INCEPTION_SIZE, 3], name="input"
        )
        mul = tf.multiply(x, tf.constant(1.0), name="Mul")
        kernel = tf.constant(rng.normal(size=(1, 1, 3, depth - 3)).astype(np.float32))
        feat = tf.nn.relu(tf.nn.conv2d(mul, kernel, 1, "VALID"))
        pool = tf.identity(
            tf.reduce_mean(tf.concat([mul, feat], -1), [1, 2], keepdims=True), name="pool_3"
        )
        w = tf.constant(rng.normal(size=(depth, 1008)).astype(np.float32))
        b = tf.constant(rng.normal(size=(1008,)).astype(np.float32))
        tf.identity(tf.matmul(tf.reshape(pool, [-1, depth]), w) + b, name="logits")
    return graph.as_graph_def()
