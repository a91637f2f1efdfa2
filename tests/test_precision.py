"""The opt-in bfloat16 mixed precision: float32 variables and spectral-norm math."""

import numpy as np
import pytest
import tensorflow as tf

from gan.config import ConfigError, validate_run_config
from gan.layers import SNConv2D
from gan.trainer import Trainer

IMAGES = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)


def test_mixed_sn_layer_keeps_float32_variables_and_sigma_and_computes_in_bfloat16():
    x = tf.random.normal([2, 8, 8, 4], seed=1)
    exact = SNConv2D(6, 3, padding="same", sn_mode="BSN", scale=1.3)
    mixed = SNConv2D(6, 3, padding="same", sn_mode="BSN", scale=1.3, dtype="mixed_bfloat16")
    exact.build(x.shape)
    mixed.build(x.shape)
    for a, b in zip(mixed.weights, exact.weights, strict=True):
        a.assign(b)
    assert all(v.dtype == "float32" for v in mixed.weights)
    gain = tf.constant(1.0002)  # not representable in bfloat16 (spacing 2**-7 at 1)
    np.testing.assert_array_equal(
        mixed.normalized_kernel(gain).numpy(), exact.normalized_kernel(gain).numpy()
    )
    y = mixed(x, gain=gain)
    assert y.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(y, tf.float32), exact(x, gain=gain), rtol=0.05, atol=0.05)


def test_mixed_precision_training_keeps_float32_state_and_moves_gammas_by_less_than_bf16_can(
    tmp_path,
):
    cfg = validate_run_config(
        dict(
            dataset="cifar10",
            iteration=2,
            mg=4,
            batch_size=4,
            metrics=[],
            precision="mixed_bfloat16",
            loss="wgan_gp",
            d_gp_coe=10.0,
            gamma="same",
        )
    )
    trainer = Trainer(cfg, str(tmp_path), IMAGES, seed=3)
    stats = trainer.train_iteration(True)
    assert all(v.dtype == tf.float32 for v in stats.values())
    assert all(np.isfinite(float(v)) for v in stats.values())
    models = trainer.generator.variables + trainer.discriminator.variables
    assert all(v.dtype == "float32" for v in models)
    (gamma,) = trainer.discriminator.gammas
    assert 0 < abs(float(gamma) - 1.0) < 2**-8  # one Adam step (lr 2e-4), kept in float32
    assert trainer.generate(np.zeros((2, 128), np.float32)).dtype == np.float32


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(ConfigError, match="precision"):
        validate_run_config(dict(dataset="cifar10", iteration=2, precision="float16"))
