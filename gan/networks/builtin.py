"""The built-in networks' parts: the paper's CNN (CIFAR10, STL10, CelebA) and ResNet
(ImageNet), each its builders, schedule and image check.

The registry (:mod:`gan.networks.specs`) imports this module and registers them as it loads, so
it holds them before any lookup. Their builders live beside their classes (``build_generator``
and ``build_discriminator`` in :mod:`gan.networks.cnn` and :mod:`gan.networks.resnet`); the
functions held here import those modules (TensorFlow) only when a run builds its networks, so
checking a config stays TensorFlow-free. This module imports nothing of the registry, so that
the registry can import it.
"""

from __future__ import annotations

from typing import Any

ImageShape = tuple[int, int, int]  # (height, width, channels)


def cnn_images(config: Any, h: int, w: int) -> str | None:
    """The CNN's image check: ``8 * mg`` pixels square."""
    mg = config.mg
    if 8 * mg != h or h != w:
        return (
            f"mg = {mg} makes {8 * mg}x{8 * mg} images but the dataset {config.dataset!r} "
            f"has {h}x{w}; use mg = {h // 8}"
        )
    return None


def resnet_images(config: Any, h: int, w: int) -> str | None:
    """The ResNet's image check: square, ``4 * 2^k`` pixels."""
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
