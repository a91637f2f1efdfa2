"""The CNN generator and discriminator of the paper's CIFAR10/STL10/CelebA experiments."""

from __future__ import annotations

import keras
import tensorflow as tf

from gan.bsn.batch_norm import BatchNorm
from gan.bsn.layers import SNConv2D, SNDense
from gan.networks.base import NormalizedDiscriminator
from gan.networks.tf_ops import bn_relu_deconv, leaky_relu

# (filters, kernel size, stride) of the seven discriminator convolutions (width 1.0).
D_CONVS = ((64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1), (256, 4, 2), (512, 3, 1))
# Channels of the generator's first feature map and of its three 4x4/2 deconvolutions.
G_CHANNELS = (512, 256, 128, 64)
LEAK = 0.1


def scaled_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1 (``width`` 1.0 gives the paper's count)."""
    return max(1, int(round(channels * float(width))))


def discriminator_convs(width: float = 1.0) -> tuple[tuple[int, int, int], ...]:
    """(filters, kernel size, stride) of the discriminator's convolutions at ``width``."""
    return tuple((scaled_channels(f, width), k, s) for f, k, s in D_CONVS)


def generator_channels(width: float = 1.0) -> tuple[int, ...]:
    """Channels of the generator's first feature map and its deconvolutions at ``width``."""
    return tuple(scaled_channels(c, width) for c in G_CHANNELS)


def _normal(stddev: float = 0.02) -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev)


@keras.saving.register_keras_serializable(package="bsn")
class CNNGenerator(keras.Model):
    """z -> dense(mg*mg*512) -> 3 x [deconv 4x4/2, BN, ReLU] -> deconv 3x3/1 -> tanh.

    ``width`` multiplies the channel counts 512, 256, 128, 64 (1.0: the paper's network; the
    quickstart uses narrower ones).

    Output is ``[B, 8*mg, 8*mg, channels]`` in [-1, 1], float32 under any ``precision`` (a
    Keras dtype policy: "float32" or "mixed_bfloat16"). ``update_stats`` lets a caller run
    training-mode batch norm without moving its averages (the ResNet schedule needs it).
    ``save_memory`` (default) runs training mode through ``bn_relu_deconv``, which keeps one
    activation per layer for the backward instead of two; False runs the plain ops.
    """

    def __init__(
        self,
        mg: int,
        channels: int = 3,
        latent_dim: int = 128,
        precision: str = "float32",
        save_memory: bool = True,
        width: float = 1.0,
        **kwargs,
    ):
        super().__init__(dtype=precision, **kwargs)
        self.save_memory = bool(save_memory)
        self.mg = int(mg)
        self.channels = int(channels)
        self.latent_dim = int(latent_dim)
        self.width = float(width)
        self.feature_channels = generator_channels(width)
        first = self.feature_channels[0]
        self.dense = keras.layers.Dense(
            self.mg * self.mg * first,
            kernel_initializer=_normal(),
            name="layer0_dense",
            dtype=precision,
        )
        self.bns = [BatchNorm(name=f"layer{i}_bn", dtype=precision) for i in range(4)]
        self.deconvs = [
            keras.layers.Conv2DTranspose(
                f,
                4,
                strides=2,
                padding="same",
                kernel_initializer=_normal(),
                name=f"layer{i + 1}_deconv",
                dtype=precision,
            )
            for i, f in enumerate(self.feature_channels[1:])
        ]
        self.out_conv = keras.layers.Conv2DTranspose(
            self.channels,
            3,
            strides=1,
            padding="same",
            kernel_initializer=_normal(),
            name="layer4_deconv",
            dtype=precision,
        )
        self.build((None, self.latent_dim))

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        return {
            "name": self.name,
            "mg": self.mg,
            "channels": self.channels,
            "latent_dim": self.latent_dim,
            "precision": self.dtype_policy.name,
            "save_memory": self.save_memory,
            "width": self.width,
        }

    @property
    def image_size(self) -> int:
        """Side of the generated images in pixels."""
        return 8 * self.mg

    def build(self, input_shape):
        z = keras.KerasTensor(input_shape)
        h = self.dense.compute_output_shape(z.shape)
        self.dense.build(z.shape)
        self.bns[0].build(h)
        shape = (None, self.mg, self.mg, self.feature_channels[0])
        for bn, deconv in zip(self.bns[1:], self.deconvs, strict=True):
            deconv.build(shape)
            shape = deconv.compute_output_shape(shape)
            bn.build(shape)
        self.out_conv.build(shape)
        self.built = True

    def call(self, z, training=False, update_stats=True):
        if training and self.save_memory:
            return self._call_saving_memory(z, update_stats)
        h = self.dense(z)
        h = tf.nn.relu(self.bns[0](h, training=training, update_stats=update_stats))
        h = tf.reshape(h, [-1, self.mg, self.mg, self.feature_channels[0]])
        for bn, deconv in zip(self.bns[1:], self.deconvs, strict=True):
            h = tf.nn.relu(bn(deconv(h), training=training, update_stats=update_stats))
        return tf.cast(tf.tanh(self.out_conv(h)), tf.float32)

    def _call_saving_memory(self, z, update_stats):
        """Training mode, each ``BN, ReLU, deconv`` as one ``bn_relu_deconv`` (same values)."""
        h = bn_relu_deconv(
            self.dense(z),
            self.bns[0],
            self.deconvs[0],
            update_stats,
            shape=(self.mg, self.mg, self.feature_channels[0]),
        )
        for bn, deconv in zip(self.bns[1:], self.deconvs[1:] + [self.out_conv], strict=True):
            h = bn_relu_deconv(h, bn, deconv, update_stats)
        return tf.cast(tf.tanh(h), tf.float32)


@keras.saving.register_keras_serializable(package="bsn")
class CNNDiscriminator(NormalizedDiscriminator):
    """Seven normalized convs (LeakyReLU 0.1) and a normalized dense to one logit.

    ``gamma``: "none" (constant ``scale`` on every kernel), "same" (one learnable scalar on
    every layer's kernel and bias) or "diff" (one learnable scalar per layer). The logit is
    float32 under any ``precision``. ``width`` multiplies the convolutions' filter counts
    (1.0: the paper's 64..512).
    """

    def __init__(
        self,
        sn_mode: str = "SN",
        scale: float = 1.0,
        gamma: str = "none",
        image_shape: tuple[int, int, int] | None = None,
        precision: str = "float32",
        width: float = 1.0,
        **kwargs,
    ):
        super().__init__(dtype=precision, **kwargs)
        self.sn_mode = sn_mode
        self.scale = scale
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.width = float(width)
        self.convs = [
            SNConv2D(
                f,
                k,
                strides=s,
                padding="same",
                sn_mode=sn_mode,
                scale=scale,
                kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                name=f"layer{i}_conv",
                dtype=precision,
            )
            for i, (f, k, s) in enumerate(discriminator_convs(width))
        ]
        self.dense = SNDense(
            1,
            sn_mode=sn_mode,
            scale=scale,
            kernel_initializer=_normal(),
            name="layer7_dense",
            dtype=precision,
        )
        self._make_gammas(gamma)
        if image_shape is not None:
            self.build((None,) + tuple(image_shape))

    def get_config(self) -> dict:
        """The constructor's arguments (for ``.keras`` files)."""
        return {
            "name": self.name,
            "sn_mode": self.sn_mode,
            "scale": self.scale,
            "gamma": self.gamma_mode,
            "image_shape": self.image_shape,
            "precision": self.dtype_policy.name,
            "width": self.width,
        }

    @property
    def normalized_layers(self) -> list:
        """Every spectrally normalized layer, input to output."""
        return self.convs + [self.dense]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.dense.build((None, shape[1] * shape[2] * shape[3]))
        self.built = True

    def call(self, x):
        h = x
        for i, conv in enumerate(self.convs):
            h = conv(h, gain=self._gain(i))
            h = leaky_relu(h, LEAK)
        h = tf.reshape(h, [tf.shape(h)[0], -1])
        return tf.cast(self.dense(h, gain=self._gain(len(self.convs))), tf.float32)


# ------------------------------------------------------- the builders of its spec ("cnn")
def build_generator(config, image_shape: tuple[int, int, int]) -> CNNGenerator:
    """The CNN generator of a run config (its ``mg``, ``latent_dim``, precision and width)."""
    return CNNGenerator(
        config.mg,
        channels=image_shape[2],
        latent_dim=config.latent_dim,
        precision=config.precision,
        width=config.network_width,
        name="generator",
    )


def build_discriminator(config, image_shape: tuple[int, int, int]) -> CNNDiscriminator:
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
