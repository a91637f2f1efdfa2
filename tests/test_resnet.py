"""The ResNet networks and the ResNet training schedule (docs/faithfulness.md sections 3
and 6)."""

import numpy as np
import pytest
import tensorflow as tf

from gan import layers as gan_layers
from gan.config import ConfigError, validate_run_config
from gan.networks.resnet import (
    D_CHANNELS,
    G_CHANNELS,
    DownBlock,
    ResNetDiscriminator,
    ResNetGenerator,
    avg_pool2x,
    discriminator_channels,
    generator_channels,
    upsample2x,
)
from gan.schedules import sigma_scalars
from gan.trainer import Trainer

LATENT = 128


def _count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


def _g_params(channels, latent=LATENT, out=3):
    """Trainable parameters of G from the channel list of docs/faithfulness.md section 3."""
    n = latent * 16 * channels[0] + 16 * channels[0]  # dense
    cin = channels[0]
    for c in channels:
        n += 2 * cin + 9 * cin * c + c  # BN1, conv1
        n += 2 * c + 9 * c * c + c  # BN2, conv2
        n += cin * c + c  # 1x1 shortcut
        cin = c
    return n + 2 * cin + 9 * cin * out + out  # BN, last conv


def _d_params(channels, in_ch=3):
    n, cin = 0, in_ch
    for c in channels:
        n += 9 * cin * c + c + 9 * c * c + c + cin * c + c
        cin = c
    return n + cin + 1  # dense to one logit


def test_parameter_counts_at_128px_match_the_spec_channel_lists():
    assert generator_channels(128) == G_CHANNELS == (1024, 512, 256, 128, 64)
    assert discriminator_channels(128) == D_CHANNELS == (64, 128, 256, 512, 1024, 1024)
    g = ResNetGenerator(128)
    d = ResNetDiscriminator("BSN", 1.0, "none", (128, 128, 3))
    assert _count(g.trainable_variables) == _g_params(G_CHANNELS)
    assert _count(d.trainable_variables) == _d_params(D_CHANNELS)
    # Non-trainable: BN moving mean/variance in G; u (out) and u_t (in) of every BSN conv and
    # the dense's u (plain SN even in BSN mode).
    bn_channels = [G_CHANNELS[0]] + [c for c in G_CHANNELS for _ in (0, 1)]
    assert _count(g.non_trainable_variables) == 2 * sum(bn_channels)
    u_count, cin = 0, 3
    for c in D_CHANNELS:
        u_count += (c + cin) + (c + c) + (c + cin)
        cin = c
    assert _count(d.non_trainable_variables) == u_count + 1

    # Variance scaling (fan_avg, uniform): 2.0 inside blocks, 1.0 shortcut/first dense/last conv.
    def limit(kernel, scale):
        shape = kernel.shape
        receptive = int(np.prod(shape[:-2])) if len(shape) == 4 else 1
        fan_avg = receptive * (int(shape[-2]) + int(shape[-1])) / 2
        return np.sqrt(3.0 * scale / fan_avg)

    block = g.blocks[2]
    for kernel, scale in (
        (block.conv1.kernel, 2.0),
        (block.shortcut.kernel, 1.0),
        (g.dense.kernel, 1.0),
        (d.blocks[3].conv2.kernel, 2.0),
        (d.blocks[3].shortcut.kernel, 1.0),
    ):
        w, lim = kernel.numpy(), limit(kernel, scale)
        assert np.abs(w).max() <= lim * (1 + 1e-6)
        assert np.std(w) == pytest.approx(lim / np.sqrt(3.0), rel=0.05)
    for var in g.variables + d.variables:
        if var.path.endswith("bias"):
            assert not np.any(var.numpy())


@pytest.mark.parametrize("size,width", [(128, 1 / 32), (32, 1 / 8)])
def test_shapes_through_every_block(size, width):
    g = ResNetGenerator(size, width=width)
    d = ResNetDiscriminator("SN", 1.0, "none", (size, size, 3), width=width)
    n = int(np.log2(size // 4))
    assert len(g.blocks) == n and len(d.blocks) == n + 1
    assert g.block_channels == tuple(max(1, round(c * width)) for c in G_CHANNELS[-n:])
    h = tf.reshape(g.dense(tf.random.normal([2, LATENT])), [2, 4, 4, g.block_channels[0]])
    for i, block in enumerate(g.blocks):
        h = block(h, training=True)
        side = 4 * 2 ** (i + 1)
        assert h.shape == (2, side, side, g.block_channels[i])
    image = g(tf.random.normal([2, LATENT]), training=True)
    assert image.shape == (2, size, size, 3)
    assert float(tf.reduce_max(tf.abs(image))) <= 1.0
    h = image
    for i, block in enumerate(d.blocks):
        h = block(h)
        side = max(size // 2 ** (i + 1), 4)
        assert h.shape == (2, side, side, d.block_channels[i])
    assert d(image).shape == (2, 1)


def test_upsample_pool_and_the_down_block_wiring():
    x = tf.reshape(tf.range(2 * 2 * 2 * 3, dtype=tf.float32), [2, 2, 2, 3])
    up = upsample2x(x).numpy()
    np.testing.assert_array_equal(up, np.repeat(np.repeat(x.numpy(), 2, axis=1), 2, axis=2))
    np.testing.assert_allclose(avg_pool2x(tf.constant(up)).numpy(), x.numpy())

    x = tf.random.normal([2, 8, 8, 3])
    for first in (True, False):
        for down in (True, False):
            block = DownBlock(4, first=first, down=down, sn_mode="none")
            block.build(x.shape)

            def conv(layer, h):
                return tf.nn.conv2d(h, layer.kernel, 1, "SAME") + layer.bias

            h = x if first else tf.nn.relu(x)
            h = conv(block.conv2, tf.nn.relu(conv(block.conv1, h)))
            s = conv(block.shortcut, x)
            if down:
                h, s = avg_pool2x(h), avg_pool2x(s)
            np.testing.assert_allclose(block(x).numpy(), (h + s).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("gamma,count", [("none", 0), ("same", 1), ("diff", 13)])
def test_gammas_and_nested_sigma_names(gamma, count):
    d = ResNetDiscriminator("BSN", 1.0, gamma, (32, 32, 3), width=1 / 16)
    assert len(d.gammas) == count and len(d.normalized_layers) == 13
    names = set(sigma_scalars(d.sigmas()))
    assert names == {
        f"d/sigma{i}_{j}_{k}" for i in range(4) for j in range(3) for k in range(3)
    } | {"d/sigma4"}
    sn = ResNetDiscriminator("SN", 1.0, gamma, (32, 32, 3), width=1 / 16)
    assert set(sigma_scalars(sn.sigmas())) == {
        f"d/sigma{i}_{j}" for i in range(4) for j in range(3)
    } | {"d/sigma4"}
    if gamma != "none":  # gammas of 1 give the no-gamma outputs
        plain = ResNetDiscriminator("SN", 1.0, "none", (32, 32, 3), width=1 / 16)
        plain.set_weights(
            [
                w
                for w, v in zip(sn.get_weights(), sn.weights, strict=True)
                if not any(v is g for g in sn.gammas)
            ]
        )
        x = tf.random.normal([2, 32, 32, 3])
        np.testing.assert_allclose(sn(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-6)


def _config(**over):
    cfg = dict(
        dataset="cifar10",
        network="resnet",
        network_width=1 / 16,
        iteration=2,
        d_batch_size=4,
        g_batch_size=6,
        n_dis=3,
        sn_mode="BSN",
        metrics=[],
        vis_freq=1000,
        save_checkpoint_freq=1000,
    )
    cfg.update(over)
    return validate_run_config(cfg)


IMAGES = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)


def test_u_moves_n_dis_times_and_batch_norm_once_per_iteration(tmp_path, monkeypatch):
    bn_updates = tf.Variable(0, dtype=tf.int64)
    original_call = gan_layers.BatchNorm.call

    def counting_call(self, x, training=False, update_stats=True):
        if training and update_stats:
            bn_updates.assign_add(int(update_stats))
        return original_call(self, x, training=training, update_stats=update_stats)

    monkeypatch.setattr(gan_layers.BatchNorm, "call", counting_call)
    t = Trainer(_config(), str(tmp_path), IMAGES, seed=0)
    u_updates = tf.Variable(0, dtype=tf.int64)
    update_u = t.discriminator.update_u
    t.discriminator.update_u = lambda: (u_updates.assign_add(1), update_u())[1]
    bns = [
        layer for layer in t.generator._flatten_layers() if isinstance(layer, gan_layers.BatchNorm)
    ]
    assert len(bns) == 2 * len(t.generator.blocks) + 1

    u0 = [u.numpy() for u in t.discriminator.u_variables()]
    m0 = [bn.moving_mean.numpy() for bn in bns]
    stats = t.train_iteration(with_summary=True)
    assert int(u_updates.numpy()) == 3  # one u update after each of the n_dis D steps
    assert int(bn_updates.numpy()) == len(bns)  # each BN once: in the G step only
    assert all(
        not np.array_equal(a, u.numpy())
        for a, u in zip(u0, t.discriminator.u_variables(), strict=True)
    )
    assert all(not np.array_equal(a, bn.moving_mean.numpy()) for a, bn in zip(m0, bns, strict=True))
    assert {"loss/d", "loss/g", "d/sigma0_0_0", "d/sigma4", "d/max_fake_slopes"} <= set(stats)
    t.train_iteration(with_summary=True)
    assert int(u_updates.numpy()) == 6 and int(bn_updates.numpy()) == 2 * len(bns)


def test_diagnostics_use_the_weights_and_u_after_the_last_d_step(tmp_path):
    t = Trainer(
        _config(n_dis=1, sn_mode="SN", loss="wgan_gp", d_gp_coe=10.0, gamma="diff"),
        str(tmp_path),
        IMAGES,
        seed=1,
    )
    stats = t.train_iteration(with_summary=True)
    # The logged sigmas are those of the weights and u after the D step and its u update (the
    # G step moves neither), not the pre-update ones the CNN schedule logs.
    sig = sigma_scalars(t.discriminator.sigmas())
    for name, value in sig.items():
        assert float(stats[name]) == pytest.approx(float(value), rel=1e-6), name
    for i, g in enumerate(t.discriminator.gammas):
        assert float(stats[f"d/gamma{i}"]) == pytest.approx(float(g.numpy()))
    assert float(stats["loss/d/gp"]) >= 0.0


def test_resnet_config_errors():
    with pytest.raises(ConfigError, match="needs d_batch_size"):
        validate_run_config(dict(dataset="imagenet", network="resnet", iteration=1, g_batch_size=4))
    with pytest.raises(
        ConfigError, match="d_batch_size = 15 does not split evenly over num_gpus = 2"
    ):
        _config(d_batch_size=15, num_gpus=2)
    with pytest.raises(ConfigError, match="g_batch_size = 5 does not split evenly"):
        _config(g_batch_size=5, num_gpus=2)
    with pytest.raises(ConfigError, match="4 \\* 2\\^k pixels; dataset 'stl10' has 48x48"):
        _config(dataset="stl10")
    with pytest.raises(
        ConfigError,
        match="num_gpus = 2: splitting batches over devices is "
        "implemented for network 'resnet' only",
    ):
        validate_run_config(dict(dataset="cifar10", mg=4, iteration=1, num_gpus=2))
