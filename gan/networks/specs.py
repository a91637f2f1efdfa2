"""The network registry: each value of the run config's ``network`` is one :class:`NetworkSpec`,
without TensorFlow.

A spec owns what the rest of the code needs to know about a network family: the config keys it
needs, the images, datasets and precisions it trains with, whether it reads streamed data
(ImageNet) and splits batches over devices, its output quirks, and its builders and schedule,
named as ``"module:attribute"`` strings so that importing this module (the TensorFlow-free CLI
validates configs) imports no TensorFlow. :class:`gan.config.RunConfig` checks a config
against its network's spec (:func:`gan.config.check_network`); :data:`gan.variants.VARIANTS`
maps a name to the builders and schedule; ``export`` names the spec's Keras module.
docs/architecture.md "Adding a network" walks through adding one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gan.errors import ConfigError
from gan.lazy import Ref


@dataclass(frozen=True)
class NetworkSpec:
    """One network family: its checks, builders, schedule and output quirks.

    - ``name``: the config's ``network`` value; ``title``: how messages name the family.
    - ``generator``, ``discriminator``: ``(config, image_shape) -> keras.Model``;
      ``schedule``: the :class:`gan.schedules.Schedule` subclass running one iteration (each an
      object or its ``"module:attribute"``). ``keras_module``: the module whose import
      registers its Keras classes (what loading an exported ``generator.keras`` needs).
    - ``needs``: config keys that must be set -> what they are (shown in the message).
    - ``split_keys``: the batch keys it splits over ``num_gpus`` devices (none: one device).
    - ``precisions``: the ``precision`` values it implements, the first the default.
    - ``streams_data``: it trains on streamed data (the imagenet folder).
    - ``datasets``: the datasets it trains on (None: any).
    - ``check_images``: ``(config, height, width) -> problem or None``, its image sizes.
    - ``memory_scalars``: write ``memory/*`` scalars every iteration; ``extra_outputs``: a kept
      checkpoint also writes a sample grid and a metrics row (the original's ResNet code only
      saved there).
    """

    name: str
    title: str
    generator: Ref
    discriminator: Ref
    schedule: Ref
    keras_module: str
    needs: Mapping[str, str] = field(default_factory=dict)
    split_keys: Sequence[str] = ()
    precisions: Sequence[str] = ("float32",)
    streams_data: bool = False
    datasets: Sequence[str] | None = None
    check_images: Callable[[Any, int, int], str | None] | None = None
    memory_scalars: bool = False
    extra_outputs: bool = True


_NETWORKS: dict[str, NetworkSpec] = {}
#: The registered network names (a live view).
NETWORKS = _NETWORKS.keys()


def register_network(spec: NetworkSpec) -> NetworkSpec:
    """Add ``spec`` to the registry (ValueError for a name registered already); returns it."""
    if spec.name in _NETWORKS:
        raise ValueError(f"network {spec.name!r}: a network of that name is registered already")
    _NETWORKS[spec.name] = spec
    return spec


def unregister_network(name: str) -> None:
    """Remove the network ``name`` from the registry (a test's toy network)."""
    _NETWORKS.pop(name, None)


def network_spec(name: str) -> NetworkSpec:
    """The spec of the network ``name``; ConfigError for an unknown one."""
    try:
        return _NETWORKS[name]
    except KeyError:
        raise ConfigError(
            f"network = {name!r}, expected one of {', '.join(map(repr, _NETWORKS))}"
        ) from None


def networks_where(test: Callable[[NetworkSpec], bool]) -> list[NetworkSpec]:
    """The registered specs passing ``test``, in registration order."""
    return [spec for spec in _NETWORKS.values() if test(spec)]


# ----------------------------------------------------------------------- the built-in networks
def _cnn_images(config: Any, h: int, w: int) -> str | None:
    mg = config.mg
    if 8 * mg != h or h != w:
        return (
            f"mg = {mg} makes {8 * mg}x{8 * mg} images but the dataset {config.dataset!r} "
            f"has {h}x{w}; use mg = {h // 8}"
        )
    return None


def _resnet_images(config: Any, h: int, w: int) -> str | None:
    if h != w:
        return f"the ResNet networks need square images, got {h}x{w}"
    if h & (h - 1) or h < 8:
        return (
            f"network 'resnet' needs images of 4 * 2^k pixels; dataset {config.dataset!r} "
            f"has {h}x{w}"
        )
    return None


register_network(
    NetworkSpec(
        "cnn",
        "CNN",
        generator="gan.variants:cnn_generator",
        discriminator="gan.variants:cnn_discriminator",
        schedule="gan.schedules:CNNSchedule",
        keras_module="gan.networks.cnn",
        needs={"mg": "4, 6 or 8 for 32, 48 or 64 px"},
        precisions=("float32", "mixed_bfloat16"),
        check_images=_cnn_images,
    )
)
register_network(
    NetworkSpec(
        "resnet",
        "ResNet",
        generator="gan.variants:resnet_generator",
        discriminator="gan.variants:resnet_discriminator",
        schedule="gan.schedules:ResNetSchedule",
        keras_module="gan.networks.resnet",
        needs={"d_batch_size": "", "g_batch_size": ""},
        split_keys=("d_batch_size", "g_batch_size"),
        streams_data=True,
        check_images=_resnet_images,
        memory_scalars=True,
        extra_outputs=False,
    )
)
