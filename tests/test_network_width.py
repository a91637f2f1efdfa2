"""The CNN networks' ``network_width`` multiplier: narrower channels, width 1.0 unchanged."""

import numpy as np
import pytest
import tensorflow as tf

from gan.config import ConfigError, validate_run_config
from gan.networks.cnn import CNNDiscriminator, CNNGenerator
from gan.networks.specs import build_networks

# The paper's CIFAR10 CNN (mg 4, 32x32x3): every variable's path and shape. A width-1.0 network
# must keep them, so checkpoints written before the multiplier existed still restore.
# The original's shapes, from fjxmlzn/BSN at commit 10862a2ce1a3efd045539d8b72c5353e888e4a92:
# no_gamma-CNN/gan/network.py (Generator, Discriminator: channels, kernel sizes, the
# mg * mg * 512 dense) with the layers of no_gamma-CNN/gan/op.py, for cifar10 at mg 4 as
# no_gamma-CNN/config.py sets it.
PAPER_G = {
    "layer0_dense/kernel": (128, 8192),
    "layer0_dense/bias": (8192,),
    "layer1_deconv/kernel": (4, 4, 256, 512),
    "layer2_deconv/kernel": (4, 4, 128, 256),
    "layer3_deconv/kernel": (4, 4, 64, 128),
    "layer4_deconv/kernel": (3, 3, 3, 64),
}
PAPER_D = {
    "layer0_conv/kernel": (3, 3, 3, 64),
    "layer1_conv/kernel": (4, 4, 64, 64),
    "layer2_conv/kernel": (3, 3, 64, 128),
    "layer3_conv/kernel": (4, 4, 128, 128),
    "layer4_conv/kernel": (3, 3, 128, 256),
    "layer5_conv/kernel": (4, 4, 256, 256),
    "layer6_conv/kernel": (3, 3, 256, 512),
    "layer7_dense/kernel": (8192, 1),
}


def shapes_by_path(model) -> dict[str, tuple[int, ...]]:
    return {v.path.split("/", 1)[1]: tuple(v.shape) for v in model.variables}


def cnn_pair(width=None, sn_mode="BSN"):
    cfg = dict(dataset="shapes", mg=4, iteration=1, sn_mode=sn_mode)
    if width is not None:
        cfg["network_width"] = width
    return build_networks(validate_run_config(cfg), (32, 32, 3))


def test_default_width_builds_the_papers_cnn_variables():
    g, d = cnn_pair()
    g_shapes, d_shapes = shapes_by_path(g), shapes_by_path(d)
    assert {k: g_shapes[k] for k in PAPER_G} == PAPER_G
    assert {k: d_shapes[k] for k in PAPER_D} == PAPER_D
    g1, d1 = cnn_pair(width=1.0)
    assert shapes_by_path(g1) == g_shapes and shapes_by_path(d1) == d_shapes


def test_quarter_width_cnn_has_a_quarter_of_the_channels_and_the_same_variable_paths():
    g, d = cnn_pair(width=0.25)
    g_full, d_full = cnn_pair()
    assert set(shapes_by_path(g)) == set(shapes_by_path(g_full))
    assert set(shapes_by_path(d)) == set(shapes_by_path(d_full))
    assert g.feature_channels == (128, 64, 32, 16)
    assert shapes_by_path(g)["layer0_dense/kernel"] == (128, 4 * 4 * 128)
    assert shapes_by_path(g)["layer4_deconv/kernel"] == (3, 3, 3, 16)
    assert [conv.units for conv in d.convs] == [16, 16, 32, 32, 64, 64, 128]
    assert shapes_by_path(d)["layer7_dense/kernel"] == (4 * 4 * 128, 1)
    z = tf.random.normal([5, 128])
    for training in (False, True):
        x = g(z, training=training)
        assert x.shape == (5, 32, 32, 3) and x.dtype == tf.float32
    assert d(x).shape == (5, 1)
    assert len(d.sigmas()) == 8 and all(np.isfinite(s).all() for s in tf.nest.flatten(d.sigmas()))


def test_width_rounds_channels_and_keeps_at_least_one():
    g = CNNGenerator(4, width=0.3)
    d = CNNDiscriminator(image_shape=(32, 32, 3), width=0.001)
    assert g.feature_channels == (154, 77, 38, 19)
    assert [conv.units for conv in d.convs] == [1] * 7


@pytest.mark.parametrize("width", [0, -0.5, "half"])
def test_network_width_must_be_a_positive_number(width):
    with pytest.raises(ConfigError, match="network_width"):
        validate_run_config(dict(dataset="shapes", mg=4, iteration=1, network_width=width))
