"""The ResNet generator and discriminator of the paper's ImageNet 128x128 experiments.

docs/faithfulness.md section 3. At 128 px the generator is z -> dense 4*4*1024 -> 5 up-blocks
(1024, 512, 256, 128, 64 channels) -> BN -> ReLU -> conv 3x3 -> tanh, and the discriminator is
6 down-blocks (64, 128, 256, 512, 1024, and 1024 without downsampling) -> ReLU -> sum over H, W
-> dense 1, every conv and the dense normalized (BSN on the convs, plain SN on the dense).

Both networks are parameterised by the image size (a power of two times 4): a smaller size keeps
the high-resolution end of the channel lists (32 px: G 256, 128, 64; D 64, 128, 256, 256), and
``width`` multiplies every channel count (1.0 is the paper's) for quick tests and tries.

Initializers are variance scaling (fan_avg, uniform) with scale 2.0 for the 3x3 convs inside the
blocks and 1.0 for the shortcuts, the first dense and the last conv; biases start at 0.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from gan.bsn.batch_norm import BatchNorm
from gan.bsn.layers import SNConv2D, SNDense
from gan.networks.base import NormalizedDiscriminator

G_CHANNELS = (1024, 512, 256, 128, 64)  # up-block outputs at 128 px
D_CHANNELS = (64, 128, 256, 512, 1024, 1024)  # down-block outputs at 128 px (last: no pooling)
BASE_SIZE = 4  # side of G's first feature map and of D's last one


def _vs(scale: float) -> keras.initializers.Initializer:
    return keras.initializers.VarianceScaling(scale=scale, mode="fan_avg", distribution="uniform")


def num_blocks(image_size: int) -> int:
    """Up-blocks of G (= downsampling blocks of D) for ``image_size``: log2(size / 4)."""
    n = int(round(math.log2(image_size / BASE_SIZE))) if image_size >= 2 * BASE_SIZE else 0
    if n < 1 or BASE_SIZE * 2**n != image_size:
        raise ValueError(
            f"the ResNet networks need an image size of 4 * 2^k (8, 16, 32, 64, "
            f"128, ...), got {image_size}"
        )
    return n


def _scaled(channels: tuple[int, ...], width: float) -> tuple[int, ...]:
    return tuple(max(1, int(round(c * width))) for c in channels)


def generator_channels(image_size: int, width: float = 1.0) -> tuple[int, ...]:
    """Output channels of G's up-blocks (the paper's list at 128 px, its tail when smaller)."""
    n = num_blocks(image_size)
    base = G_CHANNELS if n <= len(G_CHANNELS) else (G_CHANNELS[0],) * (n - 5) + G_CHANNELS
    return _scaled(base[-n:], width)


def discriminator_channels(image_size: int, width: float = 1.0) -> tuple[int, ...]:
    """Output channels of D's blocks: one per downsampling, then one block without pooling."""
    n = num_blocks(image_size)
    down = D_CHANNELS[:-1]
    down = down[:n] if n <= len(down) else down + (down[-1],) * (n - len(down))
    return _scaled(down + (down[-1],), width)


def upsample2x(x: tf.Tensor) -> tf.Tensor:
    """Nearest-neighbour 2x upsampling (each pixel becomes a 2x2 block)."""
    b, h, w, c = tf.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
    x = tf.tile(x[:, :, None, :, None, :], [1, 1, 2, 1, 2, 1])
    return tf.reshape(x, [b, 2 * h, 2 * w, c])


def avg_pool2x(x: tf.Tensor) -> tf.Tensor:
    """2x2 average pooling with stride 2."""
    return tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="SAME")


class UpBlock(keras.layers.Layer):
    """[BN, ReLU, up 2x, conv 3x3] -> [BN, ReLU, conv 3x3], plus shortcut [up 2x, conv 1x1]."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.bn1 = BatchNorm(name="bn1")
        self.conv1 = keras.layers.Conv2D(
            self.filters, 3, padding="same", kernel_initializer=_vs(2.0), name="conv1"
        )
        self.bn2 = BatchNorm(name="bn2")
        self.conv2 = keras.layers.Conv2D(
            self.filters, 3, padding="same", kernel_initializer=_vs(2.0), name="conv2"
        )
        self.shortcut = keras.layers.Conv2D(
            self.filters, 1, padding="same", kernel_initializer=_vs(1.0), name="shortcut"
        )

    def build(self, input_shape):
        b, h, w, c = input_shape
        up = (b, 2 * h, 2 * w, c)
        out = (b, 2 * h, 2 * w, self.filters)
        self.bn1.build(input_shape)
        self.conv1.build(up)
        self.bn2.build(out)
        self.conv2.build(out)
        self.shortcut.build(up)
        self.built = True

    def call(self, x, training=False, update_stats=True):
        h = tf.nn.relu(self.bn1(x, training=training, update_stats=update_stats))
        h = self.conv1(upsample2x(h))
        h = tf.nn.relu(self.bn2(h, training=training, update_stats=update_stats))
        h = self.conv2(h)
        return h + self.shortcut(upsample2x(x))

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, 2 * h, 2 * w, self.filters)


class DownBlock(keras.layers.Layer):
    """[ReLU, conv 3x3] -> [ReLU, conv 3x3, avg pool] plus a 1x1-conv shortcut; all normalized.

    The first block has no leading ReLU and pools before its shortcut conv; the others convolve
    then pool. ``down=False`` leaves out both poolings (D's last block).
    """

    def __init__(
        self,
        filters: int,
        first: bool = False,
        down: bool = True,
        sn_mode: str = "SN",
        scale: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.first = bool(first)
        self.down = bool(down)
        common = dict(sn_mode=sn_mode, scale=scale, padding="same")
        self.conv1 = SNConv2D(self.filters, 3, kernel_initializer=_vs(2.0), name="conv1", **common)
        self.conv2 = SNConv2D(self.filters, 3, kernel_initializer=_vs(2.0), name="conv2", **common)
        self.shortcut = SNConv2D(
            self.filters, 1, kernel_initializer=_vs(1.0), name="shortcut", **common
        )

    @property
    def normalized_layers(self) -> list:
        """The block's normalized convs in the original's sigma order: conv1, conv2, shortcut."""
        return [self.conv1, self.conv2, self.shortcut]

    def build(self, input_shape):
        b, h, w, c = input_shape
        out = (b, h, w, self.filters)
        self.conv1.build(input_shape)
        self.conv2.build(out)
        if self.first and self.down:
            self.shortcut.build((b, h // 2, w // 2, c))
        else:
            self.shortcut.build(input_shape)
        self.built = True

    def call(self, x, gains=(None, None, None)):
        h = x if self.first else tf.nn.relu(x)
        h = self.conv1(h, gain=gains[0])
        h = self.conv2(tf.nn.relu(h), gain=gains[1])
        if self.down:
            h = avg_pool2x(h)
        if self.first:
            s = self.shortcut(avg_pool2x(x) if self.down else x, gain=gains[2])
        else:
            s = self.shortcut(x, gain=gains[2])
            if self.down:
                s = avg_pool2x(s)
        return h + s

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        if self.down:
            h, w = h // 2, w // 2
        return (b, h, w, self.filters)


@keras.saving.register_keras_serializable(package="bsn")
class ResNetGenerator(keras.Model):
    """z -> dense 4*4*C0 -> up-blocks -> BN -> ReLU -> conv 3x3 -> tanh, in [-1, 1].

    ``update_stats`` lets a caller run training-mode batch norm without moving its moving
    averages (the ResNet schedule moves them in the G step only).
    """

    def __init__(
        self,
        image_size: int = 128,
        channels: int = 3,
        latent_dim: int = 128,
        width: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._image_size = int(image_size)
        self.channels = int(channels)
        self.latent_dim = int(latent_dim)
        self.width = float(width)
        self.block_channels = generator_channels(self._image_size, width)
        c0 = self.block_channels[0]
        self.dense = keras.layers.Dense(
            BASE_SIZE * BASE_SIZE * c0, kernel_initializer=_vs(1.0), name="layer0_dense"
        )
        self.blocks = [
            UpBlock(c, name=f"layer{i + 1}_up") for i, c in enumerate(self.block_channels)
        ]
        k = len(self.blocks) + 1
        self.out_bn = BatchNorm(name=f"layer{k}_bn")
        self.out_conv = keras.layers.Conv2D(
            self.channels, 3, padding="same", kernel_initializer=_vs(1.0), name=f"layer{k}_conv"
        )
        self.build((None, self.latent_dim))

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        return {
            "name": self.name,
            "image_size": self._image_size,
            "channels": self.channels,
            "latent_dim": self.latent_dim,
            "width": self.width,
        }

    @property
    def image_size(self) -> int:
        """Side of the generated images in pixels."""
        return self._image_size

    def build(self, input_shape):
        self.dense.build(tuple(input_shape))
        shape = (None, BASE_SIZE, BASE_SIZE, self.block_channels[0])
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self.out_bn.build(shape)
        self.out_conv.build(shape)
        self.built = True

    def call(self, z, training=False, update_stats=True):
        h = self.dense(z)
        h = tf.reshape(h, [-1, BASE_SIZE, BASE_SIZE, self.block_channels[0]])
        for block in self.blocks:
            h = block(h, training=training, update_stats=update_stats)
        h = tf.nn.relu(self.out_bn(h, training=training, update_stats=update_stats))
        return tf.tanh(self.out_conv(h))


@keras.saving.register_keras_serializable(package="bsn")
class ResNetDiscriminator(NormalizedDiscriminator):
    """Down-blocks -> ReLU -> sum over H and W -> normalized dense to one logit.

    ``gamma``: "none" (constant ``scale`` on every kernel), "same" (one learnable scalar on
    every normalized layer's kernel and bias) or "diff" (one per normalized layer: three per
    block, then the dense). ``sigmas()`` is nested per block, as the original logged them.
    """

    def __init__(
        self,
        sn_mode: str = "SN",
        scale: float = 1.0,
        gamma: str = "none",
        image_shape: tuple[int, int, int] = (128, 128, 3),
        width: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sn_mode = sn_mode
        self.scale = scale
        self.image_shape = tuple(image_shape)
        self.width = float(width)
        h, w, _ = image_shape
        if h != w:
            raise ValueError(f"the ResNet discriminator needs square images, got {h}x{w}")
        self.block_channels = discriminator_channels(int(h), width)
        last = len(self.block_channels) - 1
        self.blocks = [
            DownBlock(
                c, first=i == 0, down=i < last, sn_mode=sn_mode, scale=scale, name=f"layer{i}_down"
            )
            for i, c in enumerate(self.block_channels)
        ]
        self.dense = SNDense(
            1,
            sn_mode=sn_mode,
            scale=scale,
            kernel_initializer=_vs(1.0),
            name=f"layer{last + 1}_dense",
        )
        self._make_gammas(gamma)
        self.build((None,) + tuple(image_shape))

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        return {
            "name": self.name,
            "sn_mode": self.sn_mode,
            "scale": self.scale,
            "gamma": self.gamma_mode,
            "image_shape": self.image_shape,
            "width": self.width,
        }

    @property
    def normalized_layers(self) -> list:
        """Every normalized layer, input to output (conv1, conv2, shortcut per block; dense)."""
        return [layer for block in self.blocks for layer in block.normalized_layers] + [self.dense]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self.dense.build((None, shape[-1]))
        self.built = True

    def call(self, x):
        h = x
        for b, block in enumerate(self.blocks):
            h = block(h, gains=tuple(self._gain(3 * b + j) for j in range(3)))
        h = tf.reduce_sum(tf.nn.relu(h), axis=[1, 2])
        return self.dense(h, gain=self._gain(3 * len(self.blocks)))

    def sigmas(self) -> list:
        """Per block, per conv, its logged sigmas; then the dense's: ``[[[s]..]..., [s]]``."""
        out: list = [[layer.sigmas() for layer in block.normalized_layers] for block in self.blocks]
        out.append(self.dense.sigmas())
        return out


# ---------------------------------------------------- the builders of its spec ("resnet")
def build_generator(config, image_shape: tuple[int, int, int]) -> ResNetGenerator:
    """The ResNet generator of a run config, for square images of ``image_shape``."""
    return ResNetGenerator(
        image_shape[0],
        channels=image_shape[2],
        latent_dim=config.latent_dim,
        width=config.network_width,
        name="generator",
    )


def build_discriminator(config, image_shape: tuple[int, int, int]) -> ResNetDiscriminator:
    """The ResNet discriminator of a run config (``sn_mode``, ``scale``, ``gamma``, width)."""
    return ResNetDiscriminator(
        config.sn_mode,
        config.scale,
        config.gamma,
        image_shape=image_shape,
        width=config.network_width,
        name="discriminator",
    )
