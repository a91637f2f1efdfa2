"""The paper's GAN as a ``keras.Model`` whose ``fit()`` step is the paper's iteration."""

from __future__ import annotations

import re
import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

import gan.bsn.random as random
from gan.bsn.diagnostics import normalized_layers
from gan.bsn.losses import D_TERMS
from gan.errors import ConfigError, DataError


def _warn_about_layers(generator: keras.Model, discriminator: keras.Model) -> None:
    """One warning per layer kind that makes a network differ from the paper's."""
    d_layers = list(discriminator._flatten_layers(include_self=False, recursive=True))
    if any(isinstance(layer, keras.layers.SpectralNormalization) for layer in d_layers):
        warnings.warn(
            f"BSNGAN: the discriminator {discriminator.name!r} mixes gan.bsn layers with "
            f"keras.layers.SpectralNormalization, whose u moves on every training call and whose "
            f"gradient skips sigma; replace it (examples/replace_keras_sn.py)",
            stacklevel=3,
        )
    plain = (keras.layers.Dense, keras.layers.Conv2D)
    inside_sn = {
        id(layer.layer)
        for layer in d_layers
        if isinstance(layer, keras.layers.SpectralNormalization)
    }
    if any(isinstance(layer, plain) and id(layer) not in inside_sn for layer in d_layers):
        warnings.warn(
            f"BSNGAN: the discriminator {discriminator.name!r} has a plain Dense or Conv2D "
            f"beside its normalized layers; use gan.bsn.SNDense / SNConv2D (sn_mode 'none' for "
            f"a layer meant to stay unnormalized)",
            stacklevel=3,
        )
    g_layers = generator._flatten_layers(include_self=False, recursive=True)
    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in g_layers):
        warnings.warn(
            f"BSNGAN: the generator {generator.name!r} uses keras.layers.BatchNormalization "
            f"(momentum 0.99, epsilon 1e-3, biased moving variance); the paper's is "
            f"gan.bsn.BatchNorm",
            stacklevel=3,
        )


def _first_batch(x: Any, batch_size: int | None) -> Any | None:
    """The images of the first batch of fit's ``x`` (a NumPy array or a tf.data.Dataset of
    images or (images, labels)), else None."""
    if isinstance(x, np.ndarray):
        return x[: batch_size or 32]
    if hasattr(x, "take") and hasattr(x, "element_spec"):  # a tf.data.Dataset
        for item in x.take(1):
            first = item[0] if isinstance(item, (tuple, list)) else item
            return np.asarray(first)
    return None


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

    On the tensorflow backend this is :func:`gan.bsn.steps.tensorflow.paper_iteration`, the
    code the task trainer's CNN schedule runs. The logs are the losses (``loss/d``,
    ``loss/d/real``, ``loss/d/fake``, ``loss/d/gp``, ``loss/g``) and the mean D outputs
    ``d/real``, ``d/fake``; with
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
        _warn_about_layers(generator, discriminator)
        self.generator = generator
        self.discriminator = discriminator
        self.z_seed = int(seed)
        # One G forward (inference mode, no state moves) builds both networks and gives the
        # image shape fit() checks its data against.
        probe = generator(ops.zeros((1, self.latent_dim)), training=False)
        self.image_shape = tuple(int(s) for s in probe.shape[1:])
        if not discriminator.built:
            discriminator(probe)
        self.draws = self.add_weight(
            name="draws",
            shape=(),
            # JAX holds 32-bit integers unless x64 is switched on.
            dtype="int32" if keras.backend.backend() == "jax" else "int64",
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
        d_optimizer: keras.optimizers.Optimizer | None = None,
        g_optimizer: keras.optimizers.Optimizer | None = None,
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
        if "optimizer" in kwargs or (d_optimizer is None and g_optimizer is None):
            raise ConfigError(
                "BSNGAN.compile: pass the two optimizers as d_optimizer=... and "
                "g_optimizer=... (not Keras' optimizer=...), e.g. "
                "keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8) each; loss is 'hinge' "
                "or 'wgan_gp'"
            )
        if not isinstance(loss, str) or loss not in D_TERMS:
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
        if keras.backend.backend() == "tensorflow":
            kwargs.setdefault("jit_compile", False)
        kwargs["optimizer"] = g_optimizer
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.loss_name, self.n_dis, self.gp_weight = loss, n_dis, float(gp_weight)
        self.diagnostics = bool(diagnostics)
        # Built now so that BackupAndRestore can restore their slots before the first step.
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    def fit(self, x: Any = None, *args, **kwargs) -> keras.callbacks.History:
        """``keras.Model.fit``; warns once when the first batch's images lie outside [-1, 1]
        (the generator's tanh range: scale uint8 pixels by ``x / 127.5 - 1``); a batch that
        does not split into ``n_dis`` D batches (e.g. a dataset's partial last batch) is a
        :class:`~gan.errors.DataError`."""
        first = _first_batch(x, kwargs.get("batch_size"))
        if first is not None and first.size and (first.min() < -1.0 or first.max() > 1.0):
            warnings.warn(
                f"BSNGAN.fit: the first batch's images range over [{float(first.min()):g}, "
                f"{float(first.max()):g}], not [-1, 1]; scale them (uint8 pixels: "
                f"x / 127.5 - 1)",
                stacklevel=2,
            )
        if keras.backend.backend() != "tensorflow":
            return super().fit(x, *args, **kwargs)
        import tensorflow as tf  # TensorFlow only on its own backend

        try:
            return super().fit(x, *args, **kwargs)
        except tf.errors.InvalidArgumentError as error:
            found = re.search(rf"\[{_SPLIT_MARK}\] \[(\d+)\]", error.message)
            if found is None:
                raise
            raise self._split_error(int(found.group(1))) from None

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

    def call(self, z: Any, training: bool = False) -> Any:
        """``G(z)``."""
        return self.generator(z, training=training)

    # ------------------------------------------------------------------ draws
    def _next_index(self) -> Any:
        """A fresh draw index (draw counter, replica); the counter moves by one."""
        count = self.draws.value * 1  # a copy: on TensorFlow .value is the variable itself
        self.draws.assign(count + 1)
        replica, replicas = self._replica()
        if replicas == 1:
            return count
        return count * replicas + ops.cast(replica, count.dtype)

    def _replica(self) -> tuple[Any, int]:
        """This replica's id and the replica count (tf.distribute only; else 0 and 1)."""
        if keras.backend.backend() != "tensorflow":
            return 0, 1
        import tensorflow as tf  # TensorFlow only on its own backend

        ctx = tf.distribute.get_replica_context()
        replica = 0 if ctx is None else ctx.replica_id_in_sync_group
        return replica, self.distribute_strategy.num_replicas_in_sync

    def sample_z(self, n: Any) -> Any:
        """``n`` latents from N(0, I), drawn from (seed, draw counter): the same numbers on
        every backend."""
        return random.normal(self.z_seed, self._next_index(), (n, self.latent_dim))

    def uniform(self, shape: tuple) -> Any:
        """Uniform [0, 1) draws of ``shape`` (WGAN-GP's per-sample alpha)."""
        return random.uniform(self.z_seed, self._next_index(), tuple(shape))

    # ------------------------------------------------------------------- step
    def _real_batches(self, data) -> Any:
        """The step's real images as ``[n_dis, B, H, W, C]`` float32, checked against G."""
        real = data[0] if isinstance(data, (tuple, list)) else data
        real = ops.cast(real, "float32")
        if len(real.shape) == len(self.image_shape):
            raise DataError(
                f"BSNGAN.fit: the dataset gives single images of shape {tuple(real.shape)}, not "
                f"batches; batch the dataset (e.g. dataset.batch(64)) or pass batch_size to fit"
            )
        if tuple(real.shape[1:]) != self.image_shape:
            raise DataError(
                f"BSNGAN.fit: the dataset gives images of shape {tuple(real.shape[1:])} but "
                f"the generator makes {self.image_shape}; resize the images (e.g. "
                f"image_dataset_from_directory(..., image_size={self.image_shape[:2]})) or "
                f"build the networks for {tuple(real.shape[1:])}"
            )
        batch = real.shape[0]
        if batch is None:
            # Only TensorFlow traces with an unknown batch size (a dataset whose last batch may
            # be partial): the check runs in the step, and fit() turns its failure into the
            # DataError of _split_error.
            import tensorflow as tf  # TensorFlow only on its own backend

            size = tf.shape(real)[0]
            check = tf.debugging.Assert(tf.equal(size % self.n_dis, 0), [_SPLIT_MARK, size])
            with tf.control_dependencies([check]):
                real = tf.identity(real)
        elif batch % self.n_dis:
            raise self._split_error(batch)
        return ops.reshape(real, (self.n_dis, -1) + self.image_shape)

    def _split_error(self, batch: int) -> DataError:
        return DataError(
            f"BSNGAN.fit: a batch of {batch} images does not split into n_dis = "
            f"{self.n_dis} equal D batches; batch the dataset by a multiple of n_dis"
        )

    def _check_compiled(self) -> None:
        if self.d_optimizer is None:
            raise ConfigError("BSNGAN.fit: call compile(d_optimizer=..., g_optimizer=...) first")

    def _replica_count(self) -> int:
        if keras.backend.backend() != "tensorflow":
            return 1
        return self.distribute_strategy.num_replicas_in_sync

    def train_step(self, *args) -> Any:
        """One iteration of the paper (see the class docstring); returns its logs. The step
        of the backend Keras runs on: ``gan.bsn.steps.<backend>.train_step``."""
        self._check_compiled()
        backend = keras.backend.backend()
        # Each backend's step imports its framework: TensorFlow only on its own backend.
        if backend == "tensorflow":
            from gan.bsn.steps import tensorflow as step
        elif backend == "jax":
            from gan.bsn.steps import jax as step  # no TensorFlow under JAX
        elif backend == "torch":
            from gan.bsn.steps import torch as step  # no TensorFlow under PyTorch
        else:
            raise ConfigError(
                f"BSNGAN.fit: the Keras backend {backend!r} is not supported; set "
                f"KERAS_BACKEND to tensorflow, jax or torch"
            )
        return step.train_step(self, *args)

    @property
    def non_trainable_variables(self) -> list:
        """The networks' non-trainable variables (``u``, batch-norm averages, the draw
        counter); on JAX also the D optimizer's, so that the stateless step carries them (Keras'
        JAX trainer carries ``self.optimizer``'s, the G optimizer's, itself)."""
        found = super().non_trainable_variables
        if keras.backend.backend() == "jax" and getattr(self, "d_optimizer", None) is not None:
            found = found + list(self.d_optimizer.variables)
        return found
