"""The variants by network: ``network`` -> generator, discriminator and schedule, in one table.

Every difference between the CNN and the ResNet runs lives in :data:`VARIANTS`: the two
builders, the schedule class (:mod:`gan.schedules`), and the two ways the original's ResNet
code wrote its outputs differently (memory scalars every iteration; extra checkpoints without
a sample grid or a metrics row). The training loop reads the table and never the network name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from gan.config import ConfigError, RunConfig, check_network
from gan.networks.cnn import CNNDiscriminator, CNNGenerator
from gan.networks.resnet import ResNetDiscriminator, ResNetGenerator
from gan.schedules import CNNSchedule, ResNetSchedule, Schedule

ImageShape = tuple[int, int, int]


def cnn_generator(config: RunConfig, image_shape: ImageShape) -> keras.Model:
    """The CNN generator of a run config (its ``mg``, ``latent_dim``, precision and width)."""
    return CNNGenerator(config.mg, channels=image_shape[2], latent_dim=config.latent_dim,
                        precision=config.precision,
                        width=config.network_width, name="generator")


def cnn_discriminator(config: RunConfig, image_shape: ImageShape) -> keras.Model:
    """The CNN discriminator of a run config (``sn_mode``, ``scale``, ``gamma``, precision)."""
    return CNNDiscriminator(config.sn_mode, config.scale, config.gamma,
                            image_shape=image_shape, precision=config.precision,
                            width=config.network_width, name="discriminator")


def resnet_generator(config: RunConfig, image_shape: ImageShape) -> keras.Model:
    """The ResNet generator of a run config, for square images of ``image_shape``."""
    return ResNetGenerator(image_shape[0], channels=image_shape[2], latent_dim=config.latent_dim,
                           width=config.network_width, name="generator")


def resnet_discriminator(config: RunConfig, image_shape: ImageShape) -> keras.Model:
    """The ResNet discriminator of a run config (``sn_mode``, ``scale``, ``gamma``, width)."""
    return ResNetDiscriminator(config.sn_mode, config.scale, config.gamma,
                               image_shape=image_shape, width=config.network_width,
                               name="discriminator")


@dataclass(frozen=True)
class Variant:
    """What a ``network`` value selects.

    ``memory_scalars``: write ``memory/*`` scalars every iteration. ``extra_outputs``: an extra
    checkpoint also writes a sample grid and a metrics row (the original's ResNet code only
    saved there).
    """

    generator: Callable[[RunConfig, ImageShape], keras.Model]
    discriminator: Callable[[RunConfig, ImageShape], keras.Model]
    schedule: type[Schedule]
    memory_scalars: bool
    extra_outputs: bool


VARIANTS: dict[str, Variant] = {
    "cnn": Variant(cnn_generator, cnn_discriminator, CNNSchedule,
                   memory_scalars=False, extra_outputs=True),
    "resnet": Variant(resnet_generator, resnet_discriminator, ResNetSchedule,
                      memory_scalars=True, extra_outputs=False),
}


def variant(network: str) -> Variant:
    """The table entry of a run config's ``network``; ConfigError for an unknown one."""
    try:
        return VARIANTS[network]
    except KeyError:
        raise ConfigError(f"unknown network {network!r}; known networks: "
                          f"{', '.join(VARIANTS)}") from None


def build_generator(config: RunConfig, image_shape: ImageShape) -> keras.Model:
    """The generator a run config asks for, built for ``image_shape`` (no discriminator)."""
    chosen = variant(config.network)
    check_network(config, image_shape)
    return chosen.generator(config, image_shape)


def build_networks(config: RunConfig, image_shape: ImageShape
                   ) -> tuple[keras.Model, keras.Model]:
    """The generator and discriminator a run config asks for, built for ``image_shape``."""
    g = build_generator(config, image_shape)
    return g, variant(config.network).discriminator(config, image_shape)
