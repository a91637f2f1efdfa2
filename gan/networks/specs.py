"""The network registry: each value of the run config's ``network`` is one :class:`NetworkSpec`,
without TensorFlow.

A spec owns what the rest of the code needs to know about a network family: the config keys it
needs, the images, datasets and precisions it trains with, whether it reads streamed data
(ImageNet) and splits batches over devices, its output quirks, and its builders and schedule
(objects). :class:`gan.config.RunConfig` checks a config against its network's spec
(:func:`check_network`); :func:`build_networks` builds a run's networks and the trainer makes
the spec's schedule; ``export`` names the spec's Keras module. The built-in networks are
registered at the end of this module, as it loads (their builders in :mod:`gan.networks.builtin`),
so the registry holds them before any lookup; a plugin module (the run config's ``plugins``)
registers more. docs/architecture.md "Adding a network"
walks through adding one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gan.errors import ConfigError
from gan.networks import builtin
from gan.networks.builtin import ImageShape

#: The datasets read as a stream (the imagenet folder), not into memory.
STREAMED_DATASETS = ("imagenet",)


@dataclass(frozen=True)
class NetworkSpec:
    """One network family: its checks, builders, schedule and output quirks.

    - ``name``: the config's ``network`` value; ``title``: how messages name the family.
    - ``generator``, ``discriminator``: ``(config, image_shape) -> keras.Model``;
      ``schedule``: the :class:`gan.schedules.Schedule` subclass running one iteration, or a
      function of the same arguments making one. ``keras_module``: the name of the module whose
      import registers its Keras classes (what loading an exported ``generator.keras`` needs;
      written into the export's README).
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
    generator: Callable[[Any, ImageShape], Any]
    discriminator: Callable[[Any, ImageShape], Any]
    schedule: Callable[..., Any]
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


def known_network(name: str) -> str | None:
    """None for a registered network name, else what was expected (the run config's check of
    its ``network`` key, and the one "unknown network" message)."""
    return None if name in _NETWORKS else "one of " + ", ".join(map(repr, _NETWORKS))


def network_spec(name: str) -> NetworkSpec:
    """The spec of the network ``name``; ConfigError for an unknown one."""
    problem = known_network(name)
    if problem:
        raise ConfigError(f"network = {name!r}, expected {problem}")
    return _NETWORKS[name]


def networks_where(test: Callable[[NetworkSpec], bool]) -> list[NetworkSpec]:
    """The registered specs passing ``test``, in registration order."""
    return [spec for spec in _NETWORKS.values() if test(spec)]


def check_network(config: Any, image_shape: Sequence[int], where: str = "config") -> None:
    """Raise ConfigError unless ``config``'s network (its :class:`NetworkSpec`) trains with this
    config (a run config) and ``image_shape`` (H, W, C): the keys it needs, the streamed data,
    the dataset, the batch split over ``num_gpus``, the precision and the image size (e.g. the
    CNN's ``mg``). Checked for the dataset's images when a config is made, and again when a run
    builds its networks for the images it loaded.
    """
    spec = network_spec(config.network)
    name = spec.name
    for key, what in spec.needs.items():
        if getattr(config, key) is None:
            raise ConfigError(
                f"{where}: network {name!r} needs {key}" + (f" ({what})" if what else "")
            )
    if config.dataset in STREAMED_DATASETS and not spec.streams_data:
        streaming = " or ".join(repr(s.name) for s in networks_where(lambda s: s.streams_data))
        raise ConfigError(f"{where}: dataset {config.dataset!r} needs network {streaming}")
    if spec.datasets is not None and config.dataset not in spec.datasets:
        raise ConfigError(
            f"{where}: network {name!r} trains on dataset "
            f"{' or '.join(map(repr, spec.datasets))} only, not "
            f"{config.dataset!r}"
        )
    for key in spec.split_keys:
        value = getattr(config, key)
        if value is not None and value % config.num_gpus:
            raise ConfigError(
                f"{where}: {key} = {value} does not split evenly over "
                f"num_gpus = {config.num_gpus} devices"
            )
    if config.num_gpus != 1 and not spec.split_keys:
        split = " or ".join(repr(s.name) for s in networks_where(lambda s: bool(s.split_keys)))
        raise ConfigError(
            f"{where}: num_gpus = {config.num_gpus}: splitting batches over "
            f"devices is implemented for network {split} only; use num_gpus 1"
        )
    if config.precision not in spec.precisions:
        titles = " and ".join(
            s.title for s in networks_where(lambda s: config.precision in s.precisions)
        )
        raise ConfigError(
            f"{where}: precision {config.precision!r} is implemented for the "
            f"{titles} networks only; use precision {spec.precisions[0]!r} with "
            f"network {name!r}"
        )
    problem = (
        spec.check_images(config, int(image_shape[0]), int(image_shape[1]))
        if spec.check_images
        else None
    )
    if problem:
        raise ConfigError(f"{where}: {problem}")


def build_generator(config: Any, image_shape: ImageShape) -> Any:
    """The generator a run config asks for (its network's spec), built for ``image_shape``."""
    check_network(config, image_shape)
    return network_spec(config.network).generator(config, image_shape)


def build_networks(config: Any, image_shape: ImageShape) -> tuple[Any, Any]:
    """The generator and discriminator a run config asks for, built for ``image_shape``."""
    g = build_generator(config, image_shape)
    return g, network_spec(config.network).discriminator(config, image_shape)


# The built-in networks, registered as the registry loads: every reader sees them first.
register_network(
    NetworkSpec(
        "cnn",
        "CNN",
        generator=builtin.cnn_generator,
        discriminator=builtin.cnn_discriminator,
        schedule=builtin.cnn_schedule,
        keras_module="gan.networks.cnn",
        needs={"mg": "4, 6 or 8 for 32, 48 or 64 px"},
        precisions=("float32", "mixed_bfloat16"),
        check_images=builtin.cnn_images,
    )
)
register_network(
    NetworkSpec(
        "resnet",
        "ResNet",
        generator=builtin.resnet_generator,
        discriminator=builtin.resnet_discriminator,
        schedule=builtin.resnet_schedule,
        keras_module="gan.networks.resnet",
        needs={"d_batch_size": "", "g_batch_size": ""},
        split_keys=("d_batch_size", "g_batch_size"),
        streams_data=True,
        check_images=builtin.resnet_images,
        memory_scalars=True,
        extra_outputs=False,
    )
)
