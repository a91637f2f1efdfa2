"""The variants by network: ``network`` -> generator, discriminator and schedule, in one table.

Every difference between the network families lives in their specs
(:mod:`gan.networks.specs`): the config checks, the output quirks (memory scalars every
iteration; extra checkpoints without a sample grid or a metrics row, as the original's ResNet
code wrote them) and the builders and schedule, which :data:`VARIANTS` resolves. The training
loop reads the table and never the network name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import keras

from gan.config import ConfigError, RunConfig, check_network
from gan.lazy import resolve
from gan.networks.cnn import CNNDiscriminator, CNNGenerator
from gan.networks.resnet import ResNetDiscriminator, ResNetGenerator
from gan.networks.specs import NETWORKS, NetworkSpec, network_spec
from gan.schedules import Schedule

ImageShape = tuple[int, int, int]


def cnn_generator(config: RunConfig, image_shape: ImageShape) -> keras.Model:
    """The CNN generator of a run config (its ``mg``, ``latent_dim``, precision and width)."""
    return CNNGenerator(
        config.mg,
        channels=image_shape[2],
        latent_dim=config.latent_dim,
        precision=config.precision,
        width=config.network_width,
        name="generator",
    )


def cnn_discriminator(config: RunConfig, image_shape: ImageShape) -> keras.Model:
    """The CNN discriminator of a run config (``sn_mode``, ``scale``, ``gamma``, precision)."""
    return CNNDiscriminator(
        config.sn_mode,
        config.scale,
        config.gamma,
        image_shape=image_shape,
        precision=config.precision,
        width=config.network_width,
        name="discriminator",
    )


def resnet_generator(config: RunConfig, image_shape: ImageShape) -> keras.Model:
    """The ResNet generator of a run config, for square images of ``image_shape``."""
    return ResNetGenerator(
        image_shape[0],
        channels=image_shape[2],
        latent_dim=config.latent_dim,
        width=config.network_width,
        name="generator",
    )


def resnet_discriminator(config: RunConfig, image_shape: ImageShape) -> keras.Model:
    """The ResNet discriminator of a run config (``sn_mode``, ``scale``, ``gamma``, width)."""
    return ResNetDiscriminator(
        config.sn_mode,
        config.scale,
        config.gamma,
        image_shape=image_shape,
        width=config.network_width,
        name="discriminator",
    )


@dataclass(frozen=True)
class Variant:
    """What a ``network`` value selects: its spec's builders and schedule, resolved.

    ``memory_scalars``: write ``memory/*`` scalars every iteration. ``extra_outputs``: an extra
    checkpoint also writes a sample grid and a metrics row (the original's ResNet code only
    saved there).
    """

    spec: NetworkSpec
    generator: Callable[[RunConfig, ImageShape], keras.Model]
    discriminator: Callable[[RunConfig, ImageShape], keras.Model]
    schedule: type[Schedule]

    @property
    def memory_scalars(self) -> bool:
        return self.spec.memory_scalars

    @property
    def extra_outputs(self) -> bool:
        return self.spec.extra_outputs


class _VariantTable(Mapping[str, Variant]):
    """The registered networks' :class:`Variant`, each resolved once per spec."""

    def __init__(self) -> None:
        self._resolved: dict[str, Variant] = {}

    def __getitem__(self, name: str) -> Variant:
        if name not in NETWORKS:
            raise KeyError(name)
        spec = network_spec(name)
        found = self._resolved.get(name)
        if found is None or found.spec is not spec:
            found = Variant(
                spec, resolve(spec.generator), resolve(spec.discriminator), resolve(spec.schedule)
            )
            if found.schedule.streams_data != spec.streams_data:
                raise ValueError(
                    f"network {name!r}: streams_data = {spec.streams_data} but its "
                    f"schedule {found.schedule.__name__} says otherwise"
                )
            self._resolved[name] = found
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(list(NETWORKS))

    def __len__(self) -> int:
        return len(NETWORKS)


VARIANTS: Mapping[str, Variant] = _VariantTable()


def variant(network: str) -> Variant:
    """The table entry of a run config's ``network``; ConfigError for an unknown one."""
    try:
        return VARIANTS[network]
    except KeyError:
        raise ConfigError(
            f"unknown network {network!r}; known networks: {', '.join(VARIANTS)}"
        ) from None


def build_generator(config: RunConfig, image_shape: ImageShape) -> keras.Model:
    """The generator a run config asks for, built for ``image_shape`` (no discriminator)."""
    chosen = variant(config.network)
    check_network(config, image_shape)
    return chosen.generator(config, image_shape)


def build_networks(config: RunConfig, image_shape: ImageShape) -> tuple[keras.Model, keras.Model]:
    """The generator and discriminator a run config asks for, built for ``image_shape``."""
    g = build_generator(config, image_shape)
    return g, variant(config.network).discriminator(config, image_shape)
