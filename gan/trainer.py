"""Training of one run: the schedule, diagnostics, samples, metrics, checkpoints and resume.

The CNN schedule (docs/faithfulness.md section 6), per iteration ``N``:

* ``n_dis`` times: draw a real batch and ``z``; one D step (G in training mode, its batch-norm
  averages moving); ``u <- u'`` for every normalized layer;
* one G step on the ``z`` of the last D step.

Every ``summary_freq`` iterations the last D step also returns the diagnostics (losses, mean D
outputs, each layer's sigmas, the gammas, and the input-gradient norms on the real and the fake
batch), computed before its optimizer update as in the original, and they are written as
TensorBoard scalars with the original's names (except the gammas: ``d/gamma{i}``, the
original's ``d/scale{i}``).

The ResNet schedule (``network: resnet``), per iteration:

* ``n_dis`` times: a real batch of ``d_batch_size`` (streamed ImageNet or in-memory data) and
  ``z``; one D step (G in training mode WITHOUT moving its batch-norm averages); ``u <- u'``;
* the diagnostics on the last D batch with the weights and ``u`` after that update (the
  original ran them as a separate pass after the last D step and its u update);
* one G step on a fresh ``z`` of ``g_batch_size``; the batch-norm averages move here only.

Memory scalars (``memory/peak_rss`` in KiB, ``memory/rss``, ``memory/vms`` in bytes) are
written every iteration, and extra checkpoints write no sample grid or metrics row, as in the
original's ResNet code. With ``num_gpus`` > 1 each step runs under
``tf.distribute.MirroredStrategy``: every global batch is split evenly over the replicas, the
per-replica losses are averaged (gradients all-reduced), batch norm runs per replica (its
moving averages follow the first replica, as the original's first tower), and ``u`` is updated
once from the mirrored weights, so it is identical on every replica. One device uses the
default strategy: the same code.

Everything random (batch indices, ``z``, WGAN-GP's alpha) comes from one ``tf.random.Generator``
that is checkpointed with the weights, ``u`` vectors, batch-norm statistics and optimizer
slots, so a resumed run continues exactly where the uninterrupted one would have been.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import re
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from gan import losses
from gan.config import ConfigError, check_network
from gan.data import ImageBank, to_unit_range
from gan.imagenet import IMAGE_SHAPE as IMAGENET_SHAPE
from gan.imagenet import ImageNetFolder
from gan.memory import trim_heap
from gan.metrics.base import MetricContext, MetricsCsv
from gan.networks.base import NormalizedDiscriminator
from gan.networks.cnn import CNNDiscriminator, CNNGenerator
from gan.networks.resnet import ResNetDiscriminator, ResNetGenerator
from gan.run_folder import (
    CORRUPT_SUFFIX,
    METRIC_STATE_FILE,
    METRICS_FILE,
    PENDING_FILE,
    TIME_FILE,
    one_line,
    status_path,
    update_status,
    write_json_atomic,
)

MODEL_NAME = "model"
SHOWN_LOSSES = ("loss/d", "loss/g")  # in progress lines and status.json
METRICS_STAGE = "metrics"  # the metric_freq evaluation of an iteration
EXTRA_STAGE = "extra"  # the extra_checkpoint_freq sample grid, evaluation and kept checkpoint


class EvaluationAbandoned(BaseException):
    """A stop was requested during a metric evaluation: the evaluation is given up (it is redone
    after the resume) so the checkpoint is saved at once. Raised by ``log_metrics`` when the
    stop came before it, or by the run's signal handler while ``Trainer.evaluating``; a
    BaseException (as KeyboardInterrupt) so a metric's ``except Exception`` cannot swallow it."""
ADAM_EPSILON = 1e-8
GRID_EPS = 1e-8


def build_generator(config: dict[str, Any], image_shape: tuple[int, int, int]) -> keras.Model:
    """The generator a run config asks for, built for ``image_shape`` (no discriminator)."""
    h, w, c = image_shape
    if config["network"] not in ("cnn", "resnet"):
        raise ValueError(f"unknown network {config['network']!r}")
    check_network(config, image_shape)
    if config["network"] == "resnet":
        return ResNetGenerator(h, channels=c, latent_dim=config["latent_dim"],
                               width=config.get("network_width", 1.0), name="generator")
    return CNNGenerator(config["mg"], channels=c, latent_dim=config["latent_dim"],
                        precision=config.get("precision", "float32"),
                        width=config.get("network_width", 1.0), name="generator")


def build_networks(config: dict[str, Any], image_shape: tuple[int, int, int]
                   ) -> tuple[keras.Model, keras.Model]:
    """The generator and discriminator a run config asks for, built for ``image_shape``."""
    g = build_generator(config, image_shape)
    if config["network"] == "resnet":
        d = ResNetDiscriminator(config["sn_mode"], config["scale"], config["gamma"],
                                image_shape=image_shape, width=config.get("network_width", 1.0),
                                name="discriminator")
    else:
        d = CNNDiscriminator(config["sn_mode"], config["scale"], config["gamma"],
                             image_shape=image_shape, precision=config.get("precision", "float32"),
                             width=config.get("network_width", 1.0), name="discriminator")
    return g, d


def variables_by_path(model: keras.Model) -> dict[str, keras.Variable]:
    """Every variable of ``model`` (weights, u vectors, BN statistics, gammas) by its path.

    Keras 3 layers do not expose their variables to ``tf.train.Checkpoint`` as trackable
    children, so checkpoints name them explicitly; paths are stable because every layer is
    named.
    """
    out = {v.path: v for v in model.variables}
    if len(out) != len(model.variables):
        raise ValueError(f"{model.name}: variable paths are not unique")
    if isinstance(model, NormalizedDiscriminator):
        # The gammas once were ``scale{i}``: also named by their old paths (one object, two
        # names in a checkpoint), checkpoints written before the rename restore them.
        out.update(model.legacy_variable_paths())
    return out


def sigma_scalars(sigmas: list) -> dict[str, tf.Tensor]:
    """Scalar names of a (nested) sigma list, as the original named them.

    A layer's ``[sigma]`` is one scalar, BSN's ``[mean, s1, s2]`` three: the CNN gives
    ``d/sigma{i}`` (SN) or ``d/sigma{i}_{j}`` (BSN); the ResNet, nested per block and conv,
    gives ``d/sigma{i}_{j}`` (SN) or ``d/sigma{i}_{j}_{k}`` (BSN), and ``d/sigma{n}`` for its
    dense.
    """
    out: dict[str, tf.Tensor] = {}

    def walk(node, name: str) -> None:
        if not isinstance(node, (list, tuple)):
            out[name] = node
        elif len(node) == 1:
            walk(node[0], name)
        else:
            for j, child in enumerate(node):
                walk(child, f"{name}_{j}")

    for i, layer in enumerate(sigmas):
        walk(layer, f"d/sigma{i}")
    return out


def make_strategy(num_gpus: int, devices: list[str] | None = None) -> tf.distribute.Strategy:
    """The distribution strategy of a run: the default one for one device, else mirrored.

    ``devices`` names the devices explicitly (e.g. logical CPUs in tests); otherwise the first
    ``num_gpus`` visible GPUs are used (the scheduler sets ``CUDA_VISIBLE_DEVICES`` from the
    task's ``gpu`` entry). Too few devices is a ConfigError.
    """
    if devices is None:
        if num_gpus == 1:
            return tf.distribute.get_strategy()
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        if len(gpus) < num_gpus:
            raise ConfigError(
                f"num_gpus = {num_gpus} but this process sees {len(gpus)} GPU(s) {gpus} "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); give the "
                f"task a gpu entry listing {num_gpus} ids, e.g. [['0', '1']]")
        devices = gpus[:num_gpus]
    if len(devices) != num_gpus:
        raise ConfigError(f"num_gpus = {num_gpus} but {len(devices)} devices were given: "
                          f"{devices}")
    if num_gpus == 1:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(devices=list(devices))


def memory_scalars() -> dict[str, float]:
    """``memory/peak_rss`` (KiB, getrusage), ``memory/rss`` and ``memory/vms`` (bytes)."""
    import resource

    import psutil

    info = psutil.Process(os.getpid()).memory_info()
    return {"memory/peak_rss": float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
            "memory/rss": float(info.rss), "memory/vms": float(info.vms)}


def slope_stats(name: str, slopes: tf.Tensor) -> dict[str, tf.Tensor]:
    """``d/{mean,min,max}_<name>_slopes`` of per-sample input-gradient norms."""
    return {f"d/mean_{name}_slopes": tf.reduce_mean(slopes),
            f"d/min_{name}_slopes": tf.reduce_min(slopes),
            f"d/max_{name}_slopes": tf.reduce_max(slopes)}


def image_grid(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Tile ``rows * cols`` images and min-max scale the whole grid to uint8."""
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
    grid = images.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(
        rows * h, cols * w, c).astype(np.float64)
    lo, hi = grid.min() - GRID_EPS, grid.max() + GRID_EPS
    return ((grid - lo) / (hi - lo) * 255.0).astype(np.uint8)


class Trainer:
    """Trains one run in ``run_dir`` and writes every output the original wrote.

    ``images`` is the in-memory training set (uint8 or float32 NHWC, or an ``ImageBank``; an
    array is copied into one, so the caller may drop it) or a streamed
    :class:`~gan.imagenet.ImageNetFolder`. ``metric_callbacks`` are evaluated every
    ``metric_freq`` iterations into ``metrics.csv``. ``devices`` overrides the devices a
    ``num_gpus`` > 1 run is mirrored over (default: the first ``num_gpus`` visible GPUs).
    """

    def __init__(self, config: dict[str, Any], run_dir: str,
                 images: np.ndarray | ImageBank | ImageNetFolder,
                 metric_callbacks: list | None = None,
                 seed: int = 0, devices: list[str] | None = None):
        self.config = config
        self.run_dir = run_dir
        self.seed = int(seed)
        self.checkpoint_dir = os.path.join(run_dir, "checkpoint")
        self.sample_dir = os.path.join(run_dir, "sample")
        self.time_path = os.path.join(run_dir, TIME_FILE)
        self.metric_path = os.path.join(run_dir, METRICS_FILE)
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        os.makedirs(self.sample_dir, exist_ok=True)

        self.resnet = config["network"] == "resnet"
        self.iteration = config["iteration"]
        self.batch_size = config["batch_size"]
        self.d_batch_size = config["d_batch_size"] if self.resnet else self.batch_size
        self.g_batch_size = config["g_batch_size"] if self.resnet else self.batch_size
        self.n_dis = config["n_dis"]
        self.latent_dim = config["latent_dim"]
        self.stop_requested = False
        self.evaluating = False  # inside the callbacks of log_metrics (may be abandoned)

        self.folder = images if isinstance(images, ImageNetFolder) else None
        if self.folder is not None:
            if not self.resnet:
                raise ConfigError("streamed ImageNet data needs network 'resnet'")
            self.images = None
            self.image_shape = IMAGENET_SHAPE
            self.num_images = self.folder.num_images
        else:
            self.images = images if isinstance(images, ImageBank) else ImageBank(images)
            self.image_shape = tuple(int(s) for s in self.images.shape[1:])
            self.num_images = len(self.images)

        self.strategy = make_strategy(config["num_gpus"], devices)
        self.num_replicas = self.strategy.num_replicas_in_sync
        keras.utils.set_random_seed(self.seed)
        with self.strategy.scope():
            self.generator, self.discriminator = build_networks(config, self.image_shape)
            self.g_opt = keras.optimizers.Adam(config["g_lr"], beta_1=config["g_beta1"],
                                               beta_2=config["g_beta2"], epsilon=ADAM_EPSILON)
            self.d_opt = keras.optimizers.Adam(config["d_lr"], beta_1=config["d_beta1"],
                                               beta_2=config["d_beta2"], epsilon=ADAM_EPSILON)
            self.g_opt.build(self.generator.trainable_variables)
            self.d_opt.build(self.discriminator.trainable_variables)

        self._real_iter = None
        self.rng = tf.random.Generator.from_seed(self.seed)
        vis_n = config["vis_num_h"] * config["vis_num_w"]
        self.vis_latents = tf.Variable(self.rng.normal([vis_n, self.latent_dim]),
                                       trainable=False, name="vis_latents")
        self.global_id = tf.Variable(-1, dtype=tf.int64, trainable=False, name="global_id")

        self.checkpoint = tf.train.Checkpoint(
            generator=variables_by_path(self.generator),
            discriminator=variables_by_path(self.discriminator),
            g_optimizer=list(self.g_opt.variables), d_optimizer=list(self.d_opt.variables),
            rng=self.rng, vis_latents=self.vis_latents, global_id=self.global_id)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.checkpoint_dir, max_to_keep=5, checkpoint_name=MODEL_NAME)
        self.writer = tf.summary.create_file_writer(self.checkpoint_dir)

        self.metric_callbacks = list(metric_callbacks or [])
        self.metrics_csv = None
        if self.metric_callbacks:
            columns = [c for m in self.metric_callbacks for c in m.columns()]
            self.metrics_csv = MetricsCsv(self.metric_path, columns)

        self._iteration_fn = self._make_iteration_fn()
        self._generate_fn = tf.function(
            lambda z: self.generator(z, training=False),
            input_signature=[tf.TensorSpec([None, self.latent_dim], tf.float32)])
        self._write_fn = tf.function(self._write, autograph=False)

    def _make_iteration_fn(self):
        jit = bool(self.config.get("jit_compile", False))
        step = self._resnet_iteration if self.resnet else self._train_iteration
        return tf.function(step, jit_compile=jit)

    # ----------------------------------------------------------------- sampling
    def sample_real(self, n: int) -> tf.Tensor:
        """``n`` in-memory training images drawn uniformly with replacement, in [-1, 1]."""
        idx = self.rng.uniform([n], 0, self.num_images, dtype=tf.int64)
        return to_unit_range(self.images.gather(idx))

    def open_stream(self, start_iteration: int = 0) -> None:
        """Open the streamed real data at iteration ``start_iteration`` (a no-op in memory).

        Draws are a function of (seed, position), so a resumed run reads the same images as an
        uninterrupted one: iteration N uses draws N * n_dis * d_batch_size onwards.
        """
        if self.folder is None:
            return
        start = int(start_iteration) * self.n_dis * self.d_batch_size
        stream = self.folder.dataset(self.d_batch_size, seed=self.seed, start=start)
        self._real_iter = iter(stream)
        # A traced step holds the iterator it was traced with: trace again for the new one.
        self._iteration_fn = self._make_iteration_fn()

    def _next_real(self) -> tf.Tensor:
        """The next global D batch of real images in [-1, 1]."""
        if self.folder is None:
            return self.sample_real(self.d_batch_size)
        if self._real_iter is None:
            self.open_stream(0)
        return next(self._real_iter)

    def sample_z(self, n: int) -> tf.Tensor:
        """``n`` latents from N(0, I)."""
        return self.rng.normal([n, self.latent_dim])

    # ------------------------------------------------------------------- steps
    def _d_losses(self, real: tf.Tensor, fake: tf.Tensor, d_real: tf.Tensor,
                  d_fake: tf.Tensor, alpha: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        out = losses.d_loss(self.config["loss"], d_real, d_fake)
        if self.config["loss"] == "wgan_gp":
            out["loss/d/gp"], penalty = self._penalty(real, fake, alpha)
            out["loss/d"] = out["loss/d"] + penalty
        out["d/real"] = tf.reduce_mean(d_real)
        out["d/fake"] = tf.reduce_mean(d_fake)
        return out

    def _penalty(self, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor | None = None
                 ) -> tuple[tf.Tensor, tf.Tensor]:
        """WGAN-GP's ``(gp, d_gp_coe * gp)``; ``alpha`` drawn uniformly per sample if None."""
        if alpha is None:
            alpha = self.rng.uniform([tf.shape(real)[0], 1, 1, 1])
        gp = losses.gradient_penalty(self.discriminator, real, fake, alpha)
        return gp, self.config["d_gp_coe"] * gp

    def d_step(self, real: tf.Tensor, fake: tf.Tensor, diagnostics: bool
               ) -> dict[str, tf.Tensor]:
        """One D update on ``real`` and the generated ``fake``.

        The loss is a sum of per-input terms (plus WGAN-GP's penalty), so its gradient is
        computed one input at a time and summed: each D forward's activations are freed
        before the next forward runs, halving the step's activation memory. With
        ``diagnostics`` the sigmas, gammas and input-gradient norms are computed on the
        pre-update weights; the gradient norms reuse the loss's forward passes (one extra
        backward pass to the inputs, no extra forward).
        """
        d = self.discriminator
        d_vars = d.trainable_variables
        slopes_wanted = diagnostics and self.config.get("diagnostics", True)
        terms = losses.D_TERMS[self.config["loss"]]
        stats: dict[str, tf.Tensor] = {}
        grads: list[tf.Tensor] | None = None
        done: list[tf.Tensor] = []
        for name, x, term in zip(("real", "fake"), (real, fake), terms, strict=True):
            with tf.control_dependencies(done):
                x = tf.identity(x)
            with tf.GradientTape() as tape:
                with tf.GradientTape(watch_accessed_variables=False) as input_tape:
                    input_tape.watch(x)
                    out = d(x)
                loss = term(out)
            part = tape.gradient(loss, d_vars)
            grads = part if grads is None else _add_gradients(grads, part)
            stats[f"loss/d/{name}"] = loss
            stats[f"d/{name}"] = tf.reduce_mean(out)
            done = list(part)
            if slopes_wanted:
                slopes = losses.slope_norms(input_tape.gradient(out, x))
                stats.update(slope_stats(name, slopes))
                done.append(slopes)
        stats["loss/d"] = stats["loss/d/real"] + stats["loss/d/fake"]
        if self.config["loss"] == "wgan_gp":
            with tf.control_dependencies(done), tf.GradientTape() as tape:
                gp, penalty = self._penalty(real, fake)
            # The penalty does not depend on the last bias: its gradient there is None.
            grads = _add_gradients(grads, tape.gradient(penalty, d_vars))
            stats["loss/d/gp"] = gp
            stats["loss/d"] = stats["loss/d"] + penalty
        if diagnostics:
            stats.update(self._weight_diagnostics())
        # Everything computed from this step's forwards finishes before the update: the
        # executor would otherwise defer work only the returned stats need and keep the
        # activations alive through the G step.
        with tf.control_dependencies(list(stats.values())):
            self.d_opt.apply_gradients(zip(grads, d_vars, strict=True))
        return stats

    def _watched_d(self, real: tf.Tensor, fake: tf.Tensor
                   ) -> tuple[tf.GradientTape, tf.Tensor, tf.Tensor]:
        """``D(real), D(fake)`` recorded on a tape watching the two inputs (for the slopes)."""
        with tf.GradientTape(watch_accessed_variables=False) as input_tape:
            input_tape.watch([real, fake])
            d_real, d_fake = self.discriminator(real), self.discriminator(fake)
        return input_tape, d_real, d_fake

    @staticmethod
    def _slopes(input_tape: tf.GradientTape, real: tf.Tensor, fake: tf.Tensor,
                d_real: tf.Tensor, d_fake: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-sample input-gradient norms on ``real`` and ``fake`` from ``_watched_d``'s tape.

        D(x) of one sample depends on that sample only, so the gradient of the summed outputs
        gives every per-sample input gradient in one backward pass.
        """
        g_real, g_fake = input_tape.gradient([d_real, d_fake], [real, fake])
        return losses.slope_norms(g_real), losses.slope_norms(g_fake)

    def _weight_diagnostics(self) -> dict[str, tf.Tensor]:
        out = sigma_scalars(self.discriminator.sigmas())
        for i, g in enumerate(self.discriminator.gammas):
            out[f"d/gamma{i}"] = tf.identity(g)
        return out

    def g_step(self, z: tf.Tensor) -> dict[str, tf.Tensor]:
        """One G update on a fresh forward of ``z`` (its batch-norm averages moving once)."""
        with tf.GradientTape() as g_tape:
            fake = self.generator(z, training=True)
        return self.g_step_on(g_tape, fake)

    def g_step_on(self, g_tape: tf.GradientTape, fake: tf.Tensor) -> dict[str, tf.Tensor]:
        """One G update given a forward ``fake = G(z)`` recorded on ``g_tape``.

        The loss -mean(D(fake)) uses D's current weights; its gradient to ``fake`` is carried
        back through the recorded G forward (the chain rule, without recomputing G).
        """
        g_vars = self.generator.trainable_variables
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(fake)
            stats = losses.generator_loss(self.discriminator(fake))
        d_fake = tape.gradient(stats["loss/g"], fake)
        grads = g_tape.gradient(fake, g_vars, output_gradients=d_fake)
        self.g_opt.apply_gradients(zip(grads, g_vars, strict=True))
        return stats

    def _train_iteration(self, with_summary: bool) -> dict[str, tf.Tensor]:
        stats: dict[str, tf.Tensor] = {}
        for i in range(self.n_dis):
            real = self.sample_real(self.batch_size)
            z = self.sample_z(self.batch_size)
            if i < self.n_dis - 1:
                fake = self.generator(z, training=True)
            else:
                # The original ran G(z) here and again in the G step on the same z and weights:
                # the same tensor, so it is computed once (with its two batch-norm updates).
                with tf.GradientTape() as g_tape:
                    fake = self.generator(z, training=True, update_stats=2)
            stats = self.d_step(real, fake, diagnostics=with_summary and i == self.n_dis - 1)
            self.discriminator.update_u()
        stats.update(self.g_step_on(g_tape, fake))
        return stats

    # ------------------------------------------------------ the ResNet schedule
    def _local(self, x: tf.Tensor) -> tf.Tensor:
        """This replica's even share of a global batch (all of it with one replica)."""
        if self.num_replicas == 1:
            return x
        n = x.shape[0] // self.num_replicas
        i = tf.distribute.get_replica_context().replica_id_in_sync_group
        return x[i * n:(i + 1) * n]

    def _gather(self, x: tf.Tensor) -> tf.Tensor:
        """Concatenate a per-replica batch over the replicas (inside a replica)."""
        if self.num_replicas == 1:
            return x
        return tf.distribute.get_replica_context().all_gather(x, axis=0)

    def _mean(self, per_replica: dict[str, Any]) -> dict[str, tf.Tensor]:
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for k, v in per_replica.items()}

    def _first(self, per_replica: Any) -> Any:
        return tf.nest.map_structure(
            lambda v: self.strategy.experimental_local_results(v)[0], per_replica)

    def resnet_d_replica(self, real: tf.Tensor, z: tf.Tensor, *alpha: tf.Tensor) -> tf.Tensor:
        """One D step on this replica's share of the global ``real`` and ``z``; returns fake.

        G runs in training mode without moving its batch-norm averages. The replica's loss is
        divided by the replica count, so the all-reduced (summed) gradient is that of the
        global-batch loss, as the original's tower average. ``u`` is not moved here.
        """
        real, z = self._local(real), self._local(z)
        alpha_local = self._local(alpha[0]) if alpha else None
        fake = self.generator(z, training=True, update_stats=False)
        self.resnet_d_update(real, fake, alpha_local)
        return fake

    def resnet_d_gradients(self, real: tf.Tensor, fake: tf.Tensor,
                           alpha: tf.Tensor | None = None
                           ) -> tuple[dict[str, tf.Tensor], list[tf.Tensor]]:
        """One replica's D losses on its ``real`` and ``fake`` images and the gradients of its
        loss / replica count (their sum over replicas is the global-batch gradient)."""
        d = self.discriminator
        with tf.GradientTape() as tape:
            stats = self._d_losses(real, fake, d(real), d(fake), alpha)
            loss = stats["loss/d"] / float(self.num_replicas)
        return stats, tape.gradient(loss, d.trainable_variables)

    def resnet_d_update(self, real: tf.Tensor, fake: tf.Tensor,
                        alpha: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """The D update of one replica on given ``real`` and ``fake`` images; its losses.

        The optimizer all-reduces (sums) the replicas' gradients before applying them.
        """
        stats, grads = self.resnet_d_gradients(real, fake, alpha)
        d_vars = self.discriminator.trainable_variables
        self.d_opt.apply_gradients(zip(grads, d_vars, strict=True))
        return stats

    def resnet_diagnostics_replica(self, real: tf.Tensor, fake: tf.Tensor, *alpha: tf.Tensor
                                   ) -> tuple[dict[str, tf.Tensor], tf.Tensor, tf.Tensor]:
        """Losses and D outputs of one replica, and the slopes of all replicas, on the current
        weights (the global ``real``, the replica's ``fake``)."""
        real = self._local(real)
        alpha_local = self._local(alpha[0]) if alpha else None
        input_tape, d_real, d_fake = self._watched_d(real, fake)
        stats = self._d_losses(real, fake, d_real, d_fake, alpha_local)
        if not self.config.get("diagnostics", True):
            empty = tf.zeros([0])
            return stats, empty, empty
        s_real, s_fake = self._slopes(input_tape, real, fake, d_real, d_fake)
        return stats, self._gather(s_real), self._gather(s_fake)

    def resnet_g_replica(self, z: tf.Tensor) -> dict[str, tf.Tensor]:
        """One G step on this replica's share of ``z``; batch-norm averages move once."""
        z = self._local(z)
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            stats = losses.generator_loss(self.discriminator(fake))
            loss = stats["loss/g"] / float(self.num_replicas)
        grads = tape.gradient(loss, g_vars)
        self.g_opt.apply_gradients(zip(grads, g_vars, strict=True))
        return stats

    def _resnet_d_step(self) -> tuple[tf.Tensor, Any, tuple[tf.Tensor, ...]]:
        """Draw a D batch, z (and WGAN-GP's alpha), run the D step, then ``u <- u'``."""
        real = self._next_real()
        z = self.sample_z(self.d_batch_size)
        extra = ((self.rng.uniform([self.d_batch_size, 1, 1, 1]),)
                 if self.config["loss"] == "wgan_gp" else ())
        fake = self.strategy.run(self.resnet_d_replica, args=(real, z) + extra)
        self.discriminator.update_u()
        return real, fake, extra

    def _resnet_iteration(self, with_summary: bool) -> dict[str, tf.Tensor]:
        run = self.strategy.run
        if self.n_dis > 1:
            # A graph loop: the traced graph does not grow with n_dis.
            for _ in tf.range(self.n_dis - 1):
                self._resnet_d_step()
        real, fake, extra = self._resnet_d_step()
        stats: dict[str, tf.Tensor] = {}
        if with_summary:
            # After the last D step and its u update, on the same batch (the original's
            # separate summary pass); G's weights did not change, so its fakes are reused.
            per_replica, real_slopes, fake_slopes = run(
                self.resnet_diagnostics_replica, args=(real, fake) + extra)
            stats.update(self._mean(per_replica))
            stats.update(self._weight_diagnostics())
            if self.config.get("diagnostics", True):
                stats.update(slope_stats("real", self._first(real_slopes)))
                stats.update(slope_stats("fake", self._first(fake_slopes)))
        z = self.sample_z(self.g_batch_size)
        stats.update(self._mean(run(self.resnet_g_replica, args=(z,))))
        return stats

    def train_iteration(self, with_summary: bool = True) -> dict[str, tf.Tensor]:
        """Run one full iteration (n_dis D steps with u updates, then a G step)."""
        if self.folder is not None and self._real_iter is None:
            self.open_stream(0)
        return self._iteration_fn(bool(with_summary))

    # ----------------------------------------------------------------- outputs
    def generate(self, z: np.ndarray | tf.Tensor, batch_size: int | None = None) -> np.ndarray:
        """Inference-mode G on ``z`` in batches; float32 NHWC in [-1, 1]."""
        bs = batch_size or self.g_batch_size
        z = tf.convert_to_tensor(z, tf.float32)
        parts = [self._generate_fn(z[i:i + bs]).numpy() for i in range(0, int(z.shape[0]), bs)]
        return np.concatenate(parts) if parts else np.zeros((0,) + self.image_shape, np.float32)

    def visualize(self, global_id: int) -> str:
        """Write ``sample/global_id-N.png`` from the fixed latents; returns its path."""
        grid = image_grid(self.generate(self.vis_latents), self.config["vis_num_h"],
                          self.config["vis_num_w"])
        if grid.shape[-1] == 1:
            grid = grid[..., 0]
        path = os.path.join(self.sample_dir, f"global_id-{global_id}.png")
        _atomic_png(grid, path)
        return path

    def metric_context(self) -> MetricContext:
        """What the metric callbacks see of this run."""
        rng = np.random.default_rng([self.seed, 2])
        bs = self.config["metric_batch_size"]
        self._sample_rng = np.random.default_rng([self.seed, 3])

        def sample(n: int) -> np.ndarray:
            z = self._sample_rng.standard_normal((n, self.latent_dim)).astype(np.float32)
            return self.generate(z, batch_size=bs)

        def sample_real(n: int) -> np.ndarray:
            if self.folder is not None:
                return self.folder.sample_uint8(n, rng)
            idx = rng.integers(0, self.num_images, size=n)
            return self.images[np.sort(idx)]

        return MetricContext(sample=sample, sample_real=sample_real, real_images=self.images,
                             rng=rng, config=self.config, run_dir=self.run_dir)

    def setup_metrics(self) -> None:
        """Set the callbacks up and keep their state (e.g. the FID real subset) across resumes."""
        if not self.metric_callbacks:
            return
        self._metric_context = self.metric_context()
        state_path = os.path.join(self.checkpoint_dir, METRIC_STATE_FILE)
        saved = dict(np.load(state_path)) if os.path.isfile(state_path) else None
        state: dict[str, np.ndarray] = {}
        for i, cb in enumerate(self.metric_callbacks):
            cb.setup(self._metric_context)
            prefix = f"{i}/"
            if saved is not None:
                cb.load_state_arrays({k[len(prefix):]: v for k, v in saved.items()
                                      if k.startswith(prefix)})
            state.update({prefix + k: v for k, v in cb.state_arrays().items()})
        if saved is None and state:
            tmp = state_path + ".tmp.npz"
            np.savez(tmp, **state)
            os.replace(tmp, state_path)
        # Setting up (e.g. parsing the Inception graph) leaves freed heap pages that training,
        # whose buffers TensorFlow maps separately, would never reuse.
        trim_heap()

    def log_metrics(self, global_id: int) -> dict[str, float]:
        """Evaluate every callback, append a ``metrics.csv`` row and ``metric/*`` scalars."""
        if not self.metric_callbacks:
            return {}
        values: dict[str, float] = {}
        # Latents depend on (seed, N) only, so a resumed run evaluates the same samples.
        self._sample_rng = np.random.default_rng([self.seed, 3, global_id])
        try:
            self.evaluating = True
            if self.stop_requested:
                raise EvaluationAbandoned
            for cb in self.metric_callbacks:
                values.update(cb.evaluate(self._metric_context, global_id))
        finally:
            self.evaluating = False
        for cb in self.metric_callbacks:
            cb.release()
        trim_heap()
        self.metrics_csv.append(global_id, values)
        with self.writer.as_default(step=global_id):
            for k, v in values.items():
                if isinstance(v, (int, float, np.floating, np.integer)):
                    tf.summary.scalar("metric/" + k, float(v))
        self.writer.flush()
        logging.info("metrics at %d: %s", global_id, values)
        return values

    def _time_line(self, global_id: int, what: str) -> None:
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
        with open(self.time_path, "a") as f:
            f.write(f"iter {global_id} {what}: {now}\n")

    def _timed(self, global_id: int) -> bool:
        return (global_id == 0 or (global_id + 1) % self.config["time_freq"] == 0
                or global_id == self.iteration - 1)

    def save(self, global_id: int) -> str:
        """Write ``checkpoint/model-N`` (the manager keeps the latest five).

        A failed write (e.g. a full disk) leaves no ``model-N_temp/`` folder behind, and a
        successful one removes any an earlier failure left.
        """
        self.global_id.assign(global_id)
        try:
            return self.manager.save(checkpoint_number=global_id)
        finally:
            _remove_temp_folders(self.checkpoint_dir)

    def save_extra(self, global_id: int) -> str:
        """Write a kept copy ``checkpoint/global_id-N/model-N`` that rotation never deletes."""
        self.global_id.assign(global_id)
        folder = os.path.join(self.checkpoint_dir, f"global_id-{global_id}")
        try:
            return self.checkpoint.write(os.path.join(folder, f"{MODEL_NAME}-{global_id}"))
        finally:
            _remove_temp_folders(folder)

    def restore(self) -> int:
        """Load the newest checkpoint that reads completely; returns its N, or -1.

        A newer checkpoint whose files do not read completely (a node lost mid-write) is set
        aside: one warning line names it, its files get the suffix ``.corrupt`` (kept, not
        deleted) and the checkpoint state file stops naming it.
        """
        bad: list[tuple[str, str]] = []
        chosen = None
        for path in reversed(self.manager.checkpoints):
            problem = _unreadable(path)
            if problem is None:
                chosen = path
                break
            bad.append((path, problem))
        for path, problem in bad:
            files = ", ".join(sorted(os.path.basename(f) for f in _checkpoint_files(path)))
            logging.warning("checkpoint %s does not read completely (%s; files: %s): renamed "
                            "aside with the suffix %s; resuming from %s", path, problem,
                            files or "none", CORRUPT_SUFFIX, chosen or "scratch")
        if bad:
            self._set_aside([path for path, _ in bad])
        global_id = -1
        if chosen is not None:
            self.checkpoint.restore(chosen).assert_existing_objects_matched()
            global_id = int(self.global_id.numpy())
            logging.info("restored %s (iteration %d)", chosen, global_id)
        if self.metrics_csv is not None and (chosen is not None or bad):
            self.metrics_csv.truncate_after(global_id)
        return global_id

    def _set_aside(self, bad: list[str]) -> None:
        """Rename the files of the checkpoints ``bad`` to ``*.corrupt`` and rewrite the state
        file (and the manager) to name only the others."""
        for path in bad:
            for name in _checkpoint_files(path):
                os.replace(name, name + CORRUPT_SUFFIX)
        keep = [p for p in self.manager.checkpoints if p not in bad]
        state = os.path.join(self.checkpoint_dir, "checkpoint")
        if keep:
            tf.compat.v1.train.update_checkpoint_state(self.checkpoint_dir, keep[-1],
                                                       all_model_checkpoint_paths=keep)
        elif os.path.exists(state):
            os.replace(state, state + CORRUPT_SUFFIX)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.checkpoint_dir, max_to_keep=5, checkpoint_name=MODEL_NAME)

    def write_scalars(self, stats: dict[str, tf.Tensor | float], global_id: int) -> None:
        """TensorBoard scalars for one iteration's diagnostics, written by one traced call:
        written eagerly, the ~30 summary ops cost milliseconds per iteration, the order of a
        whole training step on a GPU."""
        values = {name: value if tf.is_tensor(value) else tf.constant(value, tf.float32)
                  for name, value in stats.items()}
        self._write_fn(values, tf.constant(global_id, tf.int64))

    def _write(self, values: dict[str, tf.Tensor], step: tf.Tensor) -> None:
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)

    # -------------------------------------------------------------------- loop
    def train(self) -> bool:
        """Train from the latest checkpoint (or scratch) to ``iteration``.

        Returns True when all iterations ran, False when a stop was requested (SIGTERM/SIGINT
        via ``stop_requested``); a checkpoint of the last finished iteration is saved first.

        A stop during iteration N's evaluation abandons it (:class:`EvaluationAbandoned`):
        checkpoint N is saved at once with ``checkpoint/pending_evaluation.json`` naming what
        of N's evaluation is left, and the resumed run does that first. The evaluation reads
        no training state that N+1 changes (its latents depend on the seed and N only), so
        the resumed run's rows, checkpoints and end state are those of an uninterrupted run.
        """
        cfg = self.config
        start = self.restore() + 1
        self.open_stream(start)
        self.setup_metrics()
        pending = self._read_pending(start - 1)
        if pending:
            logging.info("redoing the evaluation of iteration %d abandoned by a stop: %s",
                         start - 1, ", ".join(pending))
            left = self._evaluate_stages(start - 1, pending)
            if left:
                return self._stop_in_evaluation(start - 1, left, saved=True)
            os.remove(self._pending_path)
        extra = cfg["extra_checkpoint_freq"]
        # Progress goes into the status.json gan.run keeps (not into a bare folder).
        status_dir = self.run_dir if os.path.isfile(status_path(self.run_dir)) else None
        progress = _Progress(start, self.iteration, run_dir=status_dir)
        global_id = start - 1
        for global_id in range(start, self.iteration):
            if self._timed(global_id):
                self._time_line(global_id, "starts")
            with_summary = (global_id + 1) % cfg["summary_freq"] == 0
            stats = self.train_iteration(with_summary)
            if with_summary:
                self.write_scalars(stats, global_id)
            if self.resnet:
                self.write_scalars(memory_scalars(), global_id)
            if (global_id + 1) % cfg["vis_freq"] == 0:
                self.visualize(global_id)
            stages = [stage for stage, every in ((METRICS_STAGE, cfg["metric_freq"]),
                                                 (EXTRA_STAGE, extra))
                      if every is not None and (global_id + 1) % every == 0]
            left = self._evaluate_stages(global_id, stages)
            if left:
                return self._stop_in_evaluation(global_id, left, saved=False)
            if ((global_id + 1) % cfg["save_checkpoint_freq"] == 0
                    or global_id == self.iteration - 1):
                self.save(global_id)
            if self._timed(global_id):
                self._time_line(global_id, "ends")
            progress.update(global_id, stats)
            if self.stop_requested and global_id < self.iteration - 1:
                self.save(global_id)
                self.writer.flush()
                logging.warning("stop requested: saved checkpoint at iteration %d", global_id)
                return False
        self.writer.flush()
        return True

    @property
    def _pending_path(self) -> str:
        return os.path.join(self.checkpoint_dir, PENDING_FILE)

    def _evaluate_stages(self, global_id: int, stages: list[str]) -> list[str]:
        """Run iteration ``global_id``'s evaluation ``stages`` in order; returns those left
        when a stop abandoned one (empty when all ran)."""
        for i, stage in enumerate(stages):
            try:
                if stage == METRICS_STAGE:
                    self.log_metrics(global_id)
                else:
                    if not self.resnet:  # the original's ResNet code only saved here
                        self.visualize(global_id)
                        self.log_metrics(global_id)
                    self.save_extra(global_id)
            except EvaluationAbandoned:
                self.evaluating = False
                return stages[i:]
        return []

    def _stop_in_evaluation(self, global_id: int, left: list[str], saved: bool) -> bool:
        """Save checkpoint ``global_id`` (unless ``saved``) with the evaluation stages ``left``
        recorded for the resume; returns False (stopped)."""
        # The record first: a save that fails leaves an older checkpoint, which ignores it.
        write_json_atomic(self._pending_path, {"global_id": global_id, "stages": left})
        if not saved:
            self.save(global_id)
        self.writer.flush()
        logging.warning("stop requested during the evaluation of iteration %d: saved its "
                        "checkpoint; the evaluation (%s) is redone on resume", global_id,
                        ", ".join(left))
        return False

    def _read_pending(self, global_id: int) -> list[str]:
        """The evaluation stages of iteration ``global_id`` a stop left, from the record beside
        the checkpoints; a record of another iteration is stale and removed."""
        try:
            with open(self._pending_path) as f:
                record = json.load(f)
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            record = {}
        stages = record.get("stages") if isinstance(record, dict) else None
        if (isinstance(record, dict) and record.get("global_id") == global_id and global_id >= 0
                and isinstance(stages, list)
                and all(s in (METRICS_STAGE, EXTRA_STAGE) for s in stages)):
            return stages
        os.remove(self._pending_path)
        return []


class _Progress:
    """Reports iteration, speed, ETA and the last losses: a log line at most every ``every_s``
    seconds, and (with ``run_dir``) the ``iteration``/``total``/``progress`` fields of the
    run's ``status.json`` at most every ``status_every_s`` seconds, which the scheduler shows
    on the console. The speed leaves the first iteration (tracing) out."""

    def __init__(self, start: int, total: int, every_s: float = 30.0,
                 run_dir: str | None = None, status_every_s: float = 3.0):
        self.start, self.total, self.every_s = start, total, every_s
        self.run_dir, self.status_every_s = run_dir, status_every_s
        self.t0 = self.last = self.last_status = time.time()
        self.t1: float | None = None  # when the first iteration ended
        self.losses: dict[str, tf.Tensor] = {}

    def update(self, global_id: int, stats: dict[str, tf.Tensor]) -> None:
        now = time.time()
        done = global_id + 1 - self.start
        self.losses.update({k: stats[k] for k in SHOWN_LOSSES if k in stats})
        if self.t1 is None:
            self.t1 = now
        final = global_id == self.total - 1
        log_due = now - self.last >= self.every_s or final or done == 1
        status_due = self.run_dir is not None and (
            now - self.last_status >= self.status_every_s or final or done == 1)
        if not (log_due or status_due):
            return
        if done > 1:
            rate = (done - 1) / max(now - self.t1, 1e-9)
        else:
            rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - global_id - 1) / max(rate, 1e-9)
        shown = {k: float(v) for k, v in self.losses.items()}
        if status_due:
            self.last_status = now
            try:
                update_status(self.run_dir, iteration=global_id + 1, total=self.total,
                              progress={"it_per_s": round(rate, 4), "eta_s": round(eta, 1),
                                        "losses": {k: round(v, 5) for k, v in shown.items()}})
            except OSError as exc:  # progress is informative only: never stop training
                logging.warning("could not write progress to status.json: %s", exc)
        if log_due:
            self.last = now
            logging.info("iter %d/%d  %.2f it/s  ETA %s  %s", global_id + 1, self.total, rate,
                         datetime.timedelta(seconds=int(eta)),
                         "  ".join(f"{k}={v:.4f}" for k, v in shown.items()))


def _checkpoint_files(prefix: str) -> list[str]:
    """The files of the checkpoint ``prefix`` (``.index``, ``.data-*``), without set-aside ones."""
    return [f for f in glob.glob(glob.escape(prefix) + ".*")
            if re.fullmatch(r"\.(index|data-\d+-of-\d+)", f[len(prefix):])]


def _unreadable(prefix: str) -> str | None:
    """None when every tensor of the checkpoint ``prefix`` reads completely, else why not."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as exc:  # a cut or missing file fails in many ways (IndexError, DataLoss)
        return one_line(f"{type(exc).__name__}: {exc}", 200)
    return None


def _remove_temp_folders(folder: str) -> None:
    """Remove the ``model-N_temp`` folders a failed checkpoint write leaves in ``folder``."""
    import shutil

    for path in glob.glob(os.path.join(glob.escape(folder), f"{MODEL_NAME}-*_temp")):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)


def _add_gradients(a: list, b: list) -> list:
    """Element-wise sum of two gradient lists; None is a zero gradient."""
    return [y if x is None else x if y is None else x + y for x, y in zip(a, b, strict=True)]


def _atomic_png(array: np.ndarray, path: str) -> None:
    tmp = path + ".tmp"
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)
