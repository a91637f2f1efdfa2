"""What every training schedule shares: its parts, the real and latent draws, the D losses with
WGAN-GP's penalty, the weight diagnostics and slopes, and the replica helpers.

A schedule runs one training iteration (``n_dis`` D steps with their ``u`` updates, then a G
step) of one network family; :class:`Schedule` is the interface the training loop
(:class:`gan.trainer.Trainer`) drives, ``iteration(with_summary) -> stats``, traced by the loop
as one ``tf.function``. The schedules themselves are :mod:`gan.schedules.cnn` and
:mod:`gan.schedules.resnet`; which one a run uses is its network's spec
(:mod:`gan.networks.specs`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Protocol

import keras
import numpy as np
import tensorflow as tf

from gan import losses
from gan.bsn.diagnostics import sigma_scalars
from gan.dataset_files import ImageBank, to_unit_range
from gan.imagenet import IMAGE_SHAPE as IMAGENET_SHAPE
from gan.imagenet import ImageNetFolder


class ScheduleKeys(Protocol):
    """The run-config keys a schedule reads (a :class:`gan.config.RunConfig` has them all)."""

    n_dis: int
    batch_size: int
    d_batch_size: int | None
    g_batch_size: int | None
    latent_dim: int
    loss: str
    d_gp_coe: float | None
    diagnostics: bool


@dataclass
class RealData:
    """A run's real images: an in-memory ``bank`` or a streamed ImageNet ``folder``."""

    bank: ImageBank | None
    folder: ImageNetFolder | None
    image_shape: tuple[int, int, int]
    num_images: int

    @classmethod
    def of(cls, images: np.ndarray | ImageBank | ImageNetFolder) -> RealData:
        """Wrap a training set (uint8 or float32 NHWC array, ``ImageBank`` or
        ``ImageNetFolder``); an array is copied into an ``ImageBank``."""
        if isinstance(images, ImageNetFolder):
            return cls(None, images, IMAGENET_SHAPE, images.num_images)
        bank = images if isinstance(images, ImageBank) else ImageBank(images)
        return cls(bank, None, tuple(int(s) for s in bank.shape[1:]), len(bank))


def weight_diagnostics(discriminator: keras.Model) -> dict[str, tf.Tensor]:
    """Every normalized layer's sigmas (``d/sigma*``) and the gammas (``d/gamma{i}``) of D."""
    out = sigma_scalars(discriminator.sigmas())
    for i, g in enumerate(discriminator.gammas):
        out[f"d/gamma{i}"] = tf.identity(g)
    return out


class Schedule(abc.ABC):
    """One training iteration of a network family, from the run's parts.

    ``generator``, ``discriminator`` and their Adam optimizers ``g_opt``, ``d_opt`` are built
    under ``strategy``'s scope; ``rng`` is the run's checkpointed random generator (batch
    indices, ``z``, WGAN-GP's alpha); ``data`` the real images, streamed ones read from a
    position that is a function of (``seed``, iteration). Subclasses implement ``iteration``.
    """

    #: Whether the schedule reads streamed (ImageNet folder) data.
    streams_data = False

    def __init__(
        self,
        config: ScheduleKeys,
        generator: keras.Model,
        discriminator: keras.Model,
        g_opt: keras.optimizers.Optimizer,
        d_opt: keras.optimizers.Optimizer,
        rng: tf.random.Generator,
        data: RealData,
        strategy: tf.distribute.Strategy,
        seed: int = 0,
    ):
        self.config = config
        self.generator, self.discriminator = generator, discriminator
        self.g_opt, self.d_opt = g_opt, d_opt
        self.rng = rng
        self.data = data
        self.strategy = strategy
        self.num_replicas = strategy.num_replicas_in_sync
        self.seed = int(seed)
        self.n_dis = config.n_dis
        self.batch_size = config.batch_size
        self.latent_dim = config.latent_dim
        self._real_iter = None

    @property
    def d_batch_size(self) -> int:
        """The global batch of one D step (real images and ``z``)."""
        return self.batch_size

    @property
    def g_batch_size(self) -> int:
        """The global batch of the G step."""
        return self.batch_size

    @abc.abstractmethod
    def iteration(self, with_summary: bool) -> dict[str, tf.Tensor]:
        """One iteration (n_dis D steps with u updates, then a G step); its scalars, with the
        diagnostics when ``with_summary``. Traced by the caller as one ``tf.function``."""

    # ----------------------------------------------------------------- sampling
    def sample_real(self, n: int) -> tf.Tensor:
        """``n`` in-memory training images drawn uniformly with replacement, in [-1, 1]."""
        idx = self.rng.uniform([n], 0, self.data.num_images, dtype=tf.int64)
        return to_unit_range(self.data.bank.gather(idx))

    def sample_z(self, n: int) -> tf.Tensor:
        """``n`` latents from N(0, I)."""
        return self.rng.normal([n, self.latent_dim])

    @property
    def stream_unopened(self) -> bool:
        """True when the data is streamed and its stream is not open yet."""
        return self.data.folder is not None and self._real_iter is None

    def open_stream(self, start_iteration: int = 0) -> None:
        """Open the streamed real data at iteration ``start_iteration`` (a no-op in memory).

        Draws are a function of (seed, position), so a resumed run reads the same images as an
        uninterrupted one: iteration N uses draws N * n_dis * d_batch_size onwards. A traced
        step holds the iterator it was traced with: the caller traces ``iteration`` again.
        """
        if self.data.folder is None:
            return
        start = int(start_iteration) * self.n_dis * self.d_batch_size
        stream = self.data.folder.dataset(self.d_batch_size, seed=self.seed, start=start)
        self._real_iter = iter(stream)

    def next_real(self) -> tf.Tensor:
        """The next global D batch of real images in [-1, 1]."""
        if self.data.folder is None:
            return self.sample_real(self.d_batch_size)
        if self._real_iter is None:
            self.open_stream(0)
        return next(self._real_iter)

    # ------------------------------------------------------------------ losses
    def d_losses(
        self,
        real: tf.Tensor,
        fake: tf.Tensor,
        d_real: tf.Tensor,
        d_fake: tf.Tensor,
        alpha: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        """The D loss of the run's ``loss`` (with WGAN-GP's penalty) and its parts, and the
        mean D outputs ``d/real``, ``d/fake``, from D's outputs on ``real`` and ``fake``."""
        out = losses.d_loss(self.config.loss, d_real, d_fake)
        if self.config.loss == "wgan_gp":
            out["loss/d/gp"], penalty = self.penalty(real, fake, alpha)
            out["loss/d"] = out["loss/d"] + penalty
        out["d/real"] = tf.reduce_mean(d_real)
        out["d/fake"] = tf.reduce_mean(d_fake)
        return out

    def penalty(
        self, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """WGAN-GP's ``(gp, d_gp_coe * gp)``; ``alpha`` drawn uniformly per sample if None."""
        if alpha is None:
            alpha = self.rng.uniform([tf.shape(real)[0], 1, 1, 1])
        gp = losses.gradient_penalty(self.discriminator, real, fake, alpha)
        return gp, self.config.d_gp_coe * gp

    def weight_diagnostics(self) -> dict[str, tf.Tensor]:
        """D's sigmas and gammas (see :func:`weight_diagnostics`)."""
        return weight_diagnostics(self.discriminator)

    def watched_d(
        self, real: tf.Tensor, fake: tf.Tensor
    ) -> tuple[tf.GradientTape, tf.Tensor, tf.Tensor]:
        """``D(real), D(fake)`` recorded on a tape watching the two inputs (for the slopes)."""
        with tf.GradientTape(watch_accessed_variables=False) as input_tape:
            input_tape.watch([real, fake])
            d_real, d_fake = self.discriminator(real), self.discriminator(fake)
        return input_tape, d_real, d_fake

    @staticmethod
    def slopes(
        input_tape: tf.GradientTape,
        real: tf.Tensor,
        fake: tf.Tensor,
        d_real: tf.Tensor,
        d_fake: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-sample input-gradient norms on ``real`` and ``fake`` from ``watched_d``'s tape.

        D(x) of one sample depends on that sample only, so the gradient of the summed outputs
        gives every per-sample input gradient in one backward pass.
        """
        g_real, g_fake = input_tape.gradient([d_real, d_fake], [real, fake])
        return losses.slope_norms(g_real), losses.slope_norms(g_fake)

    # ---------------------------------------------------------------- replicas
    def local(self, x: tf.Tensor) -> tf.Tensor:
        """This replica's even share of a global batch (all of it with one replica)."""
        if self.num_replicas == 1:
            return x
        n = x.shape[0] // self.num_replicas
        i = tf.distribute.get_replica_context().replica_id_in_sync_group
        return x[i * n : (i + 1) * n]

    def gather(self, x: tf.Tensor) -> tf.Tensor:
        """Concatenate a per-replica batch over the replicas (inside a replica)."""
        if self.num_replicas == 1:
            return x
        return tf.distribute.get_replica_context().all_gather(x, axis=0)

    def mean(self, per_replica: dict[str, Any]) -> dict[str, tf.Tensor]:
        """The mean over the replicas of every per-replica value."""
        return {
            k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in per_replica.items()
        }

    def first(self, per_replica: Any) -> Any:
        """The first replica's value of every per-replica value."""
        return tf.nest.map_structure(
            lambda v: self.strategy.experimental_local_results(v)[0], per_replica
        )
