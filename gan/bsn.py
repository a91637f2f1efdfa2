"""BSN in your own Keras GAN: the paper's layers, the ``u`` update and a ``fit()`` model.

The stable public API (docs/library.md):

* :class:`SNConv2D`, :class:`SNDense`: spectrally normalized layers (``sn_mode`` "SN", "BSN" or
  "none", ``scale``, optional ``learnable_gamma``); a dense layer asked for BSN computes SN;
* :class:`BatchNorm`: the original's batch norm (TF1's fused kernel's rules), for generators;
* :func:`update_u`: one power-iteration step of every ``u`` of a model (call it after each
  discriminator optimizer step of a custom loop);
* :class:`BSNGAN`: a ``keras.Model`` whose ``train_step`` is the paper's iteration;
* :class:`SpectralNormLogger`, :class:`SampleGrid`: the paper's diagnostics and sample grids as
  Keras callbacks (resume through ``keras.callbacks.BackupAndRestore``);
* :func:`mirrored_strategy`: the one ``MirroredStrategy`` per device set of a process.

Importing this module registers the layers and the model for ``keras.models.load_model``.
"""

from __future__ import annotations

import re

import keras
import tensorflow as tf

from gan.callbacks import SampleGrid, SpectralNormLogger
from gan.config import ConfigError
from gan.data import DataError
from gan.distribute import mirrored_strategy
from gan.layers import BatchNorm, SNConv2D, SNDense, SpectralNormalized, leaky_relu
from gan.losses import D_TERMS
from gan.schedules.step import (
    StepParts,
    normalized_layers,
    paper_iteration,
    update_u,
    weight_diagnostics,
)

__all__ = [
    "BSNGAN",
    "BatchNorm",
    "SNConv2D",
    "SNDense",
    "SampleGrid",
    "SpectralNormLogger",
    "SpectralNormalized",
    "leaky_relu",
    "mirrored_strategy",
    "normalized_layers",
    "update_u",
    "weight_diagnostics",
]


# Names the failed in-step check of a batch's split into n_dis D batches (see BSNGAN.fit).
_SPLIT_MARK = "BSNGAN: the batch size does not split into n_dis D batches"


def _latent_dim(generator: keras.Model) -> int | None:
    found = getattr(generator, "latent_dim", None)
    if found is None:
        try:
            found = generator.input_shape[-1]
        except (AttributeError, ValueError):
            return None
    return None if found is None else int(found)


@keras.saving.register_keras_serializable(package="bsn")
class BSNGAN(keras.Model):
    """A GAN whose ``fit()`` step is the paper's iteration (docs/faithfulness.md section 6).

    One step of ``fit`` takes one batch of real images in [-1, 1] (NHWC; a ``(images,
    labels)`` pair's labels are ignored) and splits it into ``n_dis`` equal D batches; then

    * ``n_dis`` times: ``z ~ N(0, I)``, ``G(z)`` in training mode (its batch-norm averages
      move), one D step on the loss of ``compile``, ``u <- u'`` in every normalized layer;
    * one G step, ``-mean(D(G(z)))`` on the ``z`` of the last D step, which moves no ``u``.

    This is :func:`gan.schedules.step.paper_iteration`, the code the task trainer's CNN
    schedule runs. The logs are the losses (``loss/d``, ``loss/d/real``, ``loss/d/fake``,
    ``loss/d/gp``, ``loss/g``) and the mean D outputs ``d/real``, ``d/fake``; with
    ``diagnostics`` also every layer's sigma (``d/sigma{i}``), the gammas and the input-gradient
    norms (``d/{mean,min,max}_{real,fake}_slopes``), computed before the last D update.

    ``generator`` maps ``[B, latent_dim]`` to images; ``discriminator`` maps images to ``[B,
    1]`` logits and must hold at least one :class:`SNConv2D`/:class:`SNDense`. ``z`` and
    WGAN-GP's alpha are drawn from ``seed`` and a draw counter saved with the weights, so a run
    resumed by ``BackupAndRestore`` draws what the uninterrupted run drew.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int | None = None,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not normalized_layers(discriminator):
            raise ConfigError(
                f"BSNGAN: the discriminator {discriminator.name!r} has no spectrally normalized "
                f"layer; build it from gan.bsn.SNConv2D / SNDense (sn_mode 'SN' or 'BSN') in "
                f"place of Conv2D / Dense, or replace keras.layers.SpectralNormalization "
                f"wrappers with them (examples/replace_keras_sn.py)"
            )
        self.latent_dim = latent_dim if latent_dim is not None else _latent_dim(generator)
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise ConfigError(
                f"BSNGAN: cannot tell the generator's latent size (got {self.latent_dim!r}); "
                f"pass latent_dim=<size of z>"
            )
        self.generator = generator
        self.discriminator = discriminator
        self.z_seed = int(seed)
        # One G forward (inference mode, no state moves) builds both networks and gives the
        # image shape fit() checks its data against.
        probe = generator(tf.zeros([1, self.latent_dim]), training=False)
        self.image_shape = tuple(int(s) for s in probe.shape[1:])
        if not discriminator.built:
            discriminator(probe)
        self.draws = self.add_weight(
            name="draws",
            shape=(),
            dtype="int64",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
        )
        self.n_dis, self.loss_name, self.gp_weight, self.diagnostics = 1, "hinge", 10.0, False
        self.d_optimizer = self.g_optimizer = None
        self.built = True

    def get_config(self) -> dict:
        """The networks (serialized) and the constructor's arguments (for ``.keras`` files)."""
        return {
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "seed": self.z_seed,
        }

    @classmethod
    def from_config(cls, config: dict) -> BSNGAN:
        """The model of ``get_config``'s dict."""
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer,
        g_optimizer: keras.optimizers.Optimizer,
        loss: str = "hinge",
        n_dis: int = 1,
        gp_weight: float = 10.0,
        diagnostics: bool = False,
        **kwargs,
    ) -> None:
        """The two optimizers (the paper: Adam with ``epsilon=1e-8``), ``loss`` "hinge" or
        "wgan_gp" (penalty weight ``gp_weight``, the paper's ``d_gp_coe`` 10), ``n_dis`` D
        steps per G step, and whether each step also returns the ``diagnostics``. Other
        keyword arguments go to ``keras.Model.compile`` (e.g. ``steps_per_execution``)."""
        if loss not in D_TERMS:
            raise ConfigError(
                f"BSNGAN.compile: loss = {loss!r}, expected one of "
                f"{', '.join(repr(k) for k in D_TERMS)}"
            )
        if isinstance(n_dis, bool) or not isinstance(n_dis, int) or n_dis < 1:
            raise ConfigError(f"BSNGAN.compile: n_dis = {n_dis!r}, expected an integer >= 1")
        for name, opt in (("d_optimizer", d_optimizer), ("g_optimizer", g_optimizer)):
            if not isinstance(opt, keras.optimizers.Optimizer):
                raise ConfigError(
                    f"BSNGAN.compile: {name} = {opt!r}, expected a keras optimizer, e.g. "
                    f"keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8)"
                )
        # Keras' own machinery (the TensorBoard callback's step, learning-rate schedules) reads
        # model.optimizer: the G optimizer, whose steps count the paper's iterations.
        kwargs.setdefault("jit_compile", False)
        kwargs["optimizer"] = g_optimizer
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.loss_name, self.n_dis, self.gp_weight = loss, n_dis, float(gp_weight)
        self.diagnostics = bool(diagnostics)
        # Built now so that BackupAndRestore can restore their slots before the first step.
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self) -> dict | None:
        """``compile``'s arguments, optimizers serialized (restored by ``load_model``)."""
        if self.d_optimizer is None:
            return None
        return {
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
            "loss": self.loss_name,
            "n_dis": self.n_dis,
            "gp_weight": self.gp_weight,
            "diagnostics": self.diagnostics,
        }

    def compile_from_config(self, config: dict) -> None:
        """``compile`` from ``get_compile_config``'s dict."""
        config = dict(config)
        for key in ("d_optimizer", "g_optimizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)

    def call(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        """``G(z)``."""
        return self.generator(z, training=training)

    # ------------------------------------------------------------------ draws
    def _next_seed(self) -> tf.Tensor:
        """A fresh stateless seed: (seed, draw counter, replica); the counter moves by one."""
        count = tf.convert_to_tensor(self.draws.value)
        self.draws.assign_add(1)
        ctx = tf.distribute.get_replica_context()
        replica = 0 if ctx is None else ctx.replica_id_in_sync_group
        replicas = self.distribute_strategy.num_replicas_in_sync
        index = count * replicas + tf.cast(replica, tf.int64)
        return tf.stack([tf.constant(self.z_seed, tf.int64), index])

    def sample_z(self, n: tf.Tensor | int) -> tf.Tensor:
        """``n`` latents from N(0, I)."""
        return tf.random.stateless_normal([n, self.latent_dim], seed=self._next_seed())

    def uniform(self, shape: list) -> tf.Tensor:
        """Uniform [0, 1) draws of ``shape`` (WGAN-GP's per-sample alpha)."""
        return tf.random.stateless_uniform(shape, seed=self._next_seed())

    # ------------------------------------------------------------------- step
    def _real_batches(self, data) -> tf.Tensor:
        """The step's real images as ``[n_dis, B, H, W, C]`` float32, checked against G."""
        real = data[0] if isinstance(data, (tuple, list)) else data
        real = tf.cast(real, tf.float32)
        if tuple(real.shape[1:]) != self.image_shape:
            raise DataError(
                f"BSNGAN.fit: the dataset gives images of shape {tuple(real.shape[1:])} but "
                f"the generator makes {self.image_shape}; resize the images (e.g. "
                f"image_dataset_from_directory(..., image_size={self.image_shape[:2]})) or "
                f"build the networks for {tuple(real.shape[1:])}"
            )
        batch = real.shape[0]
        if batch is None:
            # A dataset whose last batch may be partial has no static batch size: the check
            # runs in the step, and fit() turns its failure into the DataError below.
            size = tf.shape(real)[0]
            check = tf.debugging.Assert(tf.equal(size % self.n_dis, 0), [_SPLIT_MARK, size])
            with tf.control_dependencies([check]):
                real = tf.identity(real)
        elif batch % self.n_dis:
            raise self._split_error(batch)
        return tf.reshape(real, (self.n_dis, -1) + self.image_shape)

    def _split_error(self, batch: int) -> DataError:
        return DataError(
            f"BSNGAN.fit: a batch of {batch} images does not split into n_dis = "
            f"{self.n_dis} equal D batches; batch the dataset by a multiple of n_dis"
        )

    def fit(self, *args, **kwargs) -> keras.callbacks.History:
        """``keras.Model.fit``; a batch that does not split into ``n_dis`` D batches (e.g. a
        dataset's partial last batch) is a :class:`~gan.data.DataError`."""
        try:
            return super().fit(*args, **kwargs)
        except tf.errors.InvalidArgumentError as error:
            found = re.search(rf"\[{_SPLIT_MARK}\] \[(\d+)\]", error.message)
            if found is None:
                raise
            raise self._split_error(int(found.group(1))) from None

    def train_step(self, data) -> dict[str, tf.Tensor]:
        """One iteration of the paper (see the class docstring); returns its logs."""
        if self.d_optimizer is None:
            raise ConfigError("BSNGAN.fit: call compile(d_optimizer=..., g_optimizer=...) first")
        reals = self._real_batches(data)
        parts = StepParts(
            self.generator,
            self.discriminator,
            self.g_optimizer,
            self.d_optimizer,
            loss=self.loss_name,
            d_gp_coe=self.gp_weight,
            slopes=True,
            uniform=self.uniform,
            num_replicas=self.distribute_strategy.num_replicas_in_sync,
        )

        def draw(i: int) -> tuple[tf.Tensor, tf.Tensor]:
            return reals[i], self.sample_z(tf.shape(reals[i])[0])

        return paper_iteration(parts, draw, self.n_dis, self.diagnostics)
