"""The built-in networks, one :func:`~gan.networks.specs.register_network` call each: the
paper's CNN (CIFAR10, STL10, CelebA) and ResNet (ImageNet).

The package's ``__init__`` imports this module, so the registry holds them before any config is
read. Their builders live beside their classes (``build_generator`` and
``build_discriminator`` in :mod:`gan.networks.cnn` and :mod:`gan.networks.resnet`); the
functions held here import those modules (TensorFlow) only when a run builds its networks, so
checking a config stays TensorFlow-free.
"""

from __future__ import annotations

from typing import Any

from gan.networks.specs import ImageShape, NetworkSpec, register_network


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


def cnn_generator(config: Any, image_shape: ImageShape) -> Any:
    """:func:`gan.networks.cnn.build_generator`."""
    # TensorFlow: the CNN networks are imported when a run builds them
    from gan.networks import cnn

    return cnn.build_generator(config, image_shape)


def cnn_discriminator(config: Any, image_shape: ImageShape) -> Any:
    """:func:`gan.networks.cnn.build_discriminator`."""
    # TensorFlow: the CNN networks are imported when a run builds them
    from gan.networks import cnn

    return cnn.build_discriminator(config, image_shape)


def cnn_schedule(*args: Any, **kwargs: Any) -> Any:
    """A :class:`gan.schedules.CNNSchedule` of these arguments."""
    # TensorFlow: the schedules are imported when a run builds its networks
    from gan.schedules import CNNSchedule

    return CNNSchedule(*args, **kwargs)


def resnet_generator(config: Any, image_shape: ImageShape) -> Any:
    """:func:`gan.networks.resnet.build_generator`."""
    # TensorFlow: the ResNet networks are imported when a run builds them
    from gan.networks import resnet

    return resnet.build_generator(config, image_shape)


def resnet_discriminator(config: Any, image_shape: ImageShape) -> Any:
    """:func:`gan.networks.resnet.build_discriminator`."""
    # TensorFlow: the ResNet networks are imported when a run builds them
    from gan.networks import resnet

    return resnet.build_discriminator(config, image_shape)


def resnet_schedule(*args: Any, **kwargs: Any) -> Any:
    """A :class:`gan.schedules.ResNetSchedule` of these arguments."""
    # TensorFlow: the schedules are imported when a run builds its networks
    from gan.schedules import ResNetSchedule

    return ResNetSchedule(*args, **kwargs)


register_network(
    NetworkSpec(
        "cnn",
        "CNN",
        generator=cnn_generator,
        discriminator=cnn_discriminator,
        schedule=cnn_schedule,
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
        generator=resnet_generator,
        discriminator=resnet_discriminator,
        schedule=resnet_schedule,
        keras_module="gan.networks.resnet",
        needs={"d_batch_size": "", "g_batch_size": ""},
        split_keys=("d_batch_size", "g_batch_size"),
        streams_data=True,
        check_images=_resnet_images,
        memory_scalars=True,
        extra_outputs=False,
    )
)
