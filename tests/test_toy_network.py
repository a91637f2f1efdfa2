"""A network is one registration: a toy network registered here, and nowhere else, is checked by
its own spec, planned by --dry_run and trained for two iterations by the training loop
(docs/architecture.md "Adding a network" walks through this file)."""

from __future__ import annotations

import os
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan.config import ConfigError, validate_run_config
from gan.layers import SNDense
from gan.networks.base import NormalizedDiscriminator
from gan.networks.specs import NetworkSpec, register_network, unregister_network
from gan.schedules import CNNSchedule
from gan.shapes import make_shapes
from tests.after_training import assert_one_error_line, cli


class ToyGenerator(keras.Model):
    """z -> one dense layer -> tanh images of ``image_shape``."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.dense = keras.layers.Dense(int(np.prod(image_shape)), name="dense")
        self.build((None, latent_dim))

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, z, training=False, update_stats=True):
        del training, update_stats  # no batch norm
        return tf.tanh(tf.reshape(self.dense(z), (-1,) + self.image_shape))


class ToyDiscriminator(NormalizedDiscriminator):
    """One spectrally normalized dense layer on the flattened image."""

    def __init__(
        self, sn_mode: str, scale: float, gamma: str, image_shape: tuple[int, int, int], **kwargs
    ):
        super().__init__(**kwargs)
        self.dense = SNDense(1, sn_mode=sn_mode, scale=scale, name="dense")
        self._make_gammas(gamma)
        self.build((None,) + tuple(image_shape))

    @property
    def normalized_layers(self) -> list:
        return [self.dense]

    def build(self, input_shape):
        self.dense.build((None, int(np.prod(input_shape[1:]))))
        self.built = True

    def call(self, x):
        return self.dense(tf.reshape(x, [tf.shape(x)[0], -1]), gain=self._gain(0))


def toy_generator(config, image_shape) -> ToyGenerator:
    return ToyGenerator(config.latent_dim, image_shape, name="generator")


def toy_discriminator(config, image_shape) -> ToyDiscriminator:
    return ToyDiscriminator(
        config.sn_mode, config.scale, config.gamma, image_shape, name="discriminator"
    )


def toy_images(config, height: int, width: int) -> str | None:
    """The toy's own image rule: 32x32 only."""
    if (height, width) != (32, 32):
        return f"the toy networks need 32x32 images, got {height}x{width}"
    return None


TOY = NetworkSpec(
    "toy",
    "toy",
    generator=toy_generator,
    discriminator=toy_discriminator,
    schedule=CNNSchedule,
    keras_module=__name__,
    check_images=toy_images,
)


@pytest.fixture(scope="module", autouse=True)
def toy_registered():
    register_network(TOY)
    yield
    unregister_network(TOY.name)


def toy_config(**keys):
    return validate_run_config(
        {
            "dataset": "shapes",
            "network": "toy",
            "iteration": 2,
            "batch_size": 4,
            "metrics": [],
            **keys,
        }
    )


def write_task(folder, **global_config) -> str:
    folder.mkdir()
    config = {"dataset": "shapes", "network": "toy", "iteration": 2, **global_config}
    (folder / "config.py").write_text(
        textwrap.dedent(f"""
        config = {{
            "scheduler_config": {{"gpu": ["0"], "result_root_folder": "results"}},
            "global_config": {config!r},
            "test_config": [{{"run": [0]}}],
        }}
    """)
    )
    return str(folder)


def test_the_toy_networks_spec_owns_its_checks():
    assert toy_config().network == "toy"
    with pytest.raises(ConfigError, match="the toy networks need 32x32 images, got 48x48"):
        toy_config(dataset="stl10")
    with pytest.raises(ConfigError, match="dataset 'imagenet' needs network 'resnet'"):
        toy_config(dataset="imagenet")
    with pytest.raises(
        ConfigError,
        match="implemented for the CNN networks only; use precision 'float32' with network 'toy'",
    ):
        toy_config(precision="mixed_bfloat16")
    with pytest.raises(ConfigError, match="implemented for network 'resnet' only"):
        toy_config(num_gpus=2)
    with pytest.raises(ValueError, match="registered already"):
        register_network(TOY)
    unregister_network("toy")
    try:
        with pytest.raises(ConfigError, match="network = 'toy', expected one of 'cnn', 'resnet'"):
            toy_config()
    finally:
        register_network(TOY)


def test_dry_run_plans_the_toy_network_and_refuses_what_its_spec_refuses(tmp_path, capsys):
    task = write_task(tmp_path / "toy")
    assert cli(task, "--dry_run") == 0
    assert "toy: 1 runs in 1 folders" in capsys.readouterr().out
    bad = write_task(tmp_path / "toy_stl10", dataset="stl10")
    assert_one_error_line(capsys, cli(bad, "--dry_run"), "toy networks need 32x32 images")


def test_the_training_loop_trains_the_toy_network_for_two_iterations(tmp_path):
    from gan.trainer import Trainer

    images, _ = make_shapes(16, seed=0)
    trainer = Trainer(toy_config(vis_num_h=2, vis_num_w=2), str(tmp_path), images, seed=0)
    assert trainer.variant.spec is TOY and isinstance(trainer.schedule, CNNSchedule)
    assert isinstance(trainer.generator, ToyGenerator)
    before = [v.numpy().copy() for v in trainer.generator.trainable_variables]
    assert trainer.train()
    assert int(trainer.global_id.numpy()) == 1
    after = [v.numpy() for v in trainer.generator.trainable_variables]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert os.path.isfile(os.path.join(str(tmp_path), "checkpoint", "checkpoint"))
