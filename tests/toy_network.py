"""A plugin module registering a toy network ("toy"), outside ``gan/``.

Naming it in a task's ``global_config`` (``"plugins": ["tests.toy_network"]``) makes every
process reading that task's run configs import it first: the command line and each run's own
process (tests/test_toy_network.py; docs/architecture.md "Adding a network").
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from gan.layers import SNDense
from gan.networks.base import NormalizedDiscriminator
from gan.networks.specs import NetworkSpec, register_network
from gan.schedules import CNNSchedule


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
    """The toy generator of a run config."""
    return ToyGenerator(config.latent_dim, image_shape, name="generator")


def toy_discriminator(config, image_shape) -> ToyDiscriminator:
    """The toy discriminator of a run config."""
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

register_network(TOY)
