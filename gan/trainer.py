"""The training loop of one run: checkpoints, resume, samples, metrics, scalars and progress.

Which network family trains, and how one iteration runs, is the run's schedule
(:mod:`gan.schedules`, chosen by the network's spec in :mod:`gan.networks.specs`); :class:`Trainer`
drives any schedule through ``iteration(with_summary) -> stats``, traced as one ``tf.function``, and
owns everything around it: every ``summary_freq`` iterations the diagnostics the iteration returns
are written as TensorBoard scalars with the original's names (except the gammas: ``d/gamma{i}``, the
original's ``d/scale{i}``); sample grids every ``vis_freq``; the metrics every ``metric_freq`` into
``metrics.csv``; checkpoints every ``save_checkpoint_freq`` and kept ones every
``extra_checkpoint_freq``; progress into ``status.json``; a stop (SIGTERM/SIGINT) saves the last
finished iteration. The ResNet network also writes memory scalars (``memory/peak_rss`` in KiB,
``memory/rss``, ``memory/vms`` in bytes) every iteration, and its extra checkpoints write no sample
grid or metrics row, as in the original's ResNet code.

Everything random (batch indices, ``z``, WGAN-GP's alpha) comes from one ``tf.random.Generator``
that is checkpointed with the weights, ``u`` vectors, batch-norm statistics and optimizer
slots, so a resumed run continues exactly where the uninterrupted one would have been.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from gan.bsn.callbacks import image_grid
from gan.config import ConfigError, RunConfig
from gan.dataset_files import ImageBank
from gan.devices import make_strategy
from gan.evaluation_stages import (
    EXTRA_STAGE,
    METRICS_STAGE,
    EvaluationAbandoned,
    read_pending,
)
from gan.imagenet import ImageNetFolder
from gan.memory import memory_scalars, trim_heap
from gan.metrics.base import MetricContext, MetricsCsv
from gan.networks.specs import build_networks, network_spec, networks_where
from gan.progress import SHOWN_LOSSES, TrainingProgress
from gan.run_folder import (
    CHECKPOINT_DIR,
    METRIC_STATE_FILE,
    METRICS_FILE,
    PENDING_FILE,
    SAMPLE_DIR,
    TIME_FILE,
    atomic_path,
    status_path,
    update_status,
    write_json_atomic,
)
from gan.schedules import RealData
from gan.training_checkpoints import RunCheckpoints, legacy_paths, variables_by_path

__all__ = ["Trainer", "image_grid"]

ADAM_EPSILON = 1e-8


class Trainer:
    """Trains one run in ``run_dir`` and writes every output the original wrote.

    ``images`` is the in-memory training set (uint8 or float32 NHWC, or an ``ImageBank``; an
    array is copied into one, so the caller may drop it) or a streamed
    :class:`~gan.imagenet.ImageNetFolder`. ``metric_callbacks`` are evaluated every
    ``metric_freq`` iterations into ``metrics.csv``. ``devices`` overrides the devices a
    ``num_gpus`` > 1 run is mirrored over (default: the first ``num_gpus`` visible GPUs).
    The schedule (``self.schedule``) comes from the ``network``'s spec
    (:func:`gan.networks.specs.network_spec`).
    """

    def __init__(
        self,
        config: RunConfig,
        run_dir: str,
        images: np.ndarray | ImageBank | ImageNetFolder,
        metric_callbacks: list | None = None,
        seed: int = 0,
        devices: list[str] | None = None,
    ):
        self.config = config
        self.run_dir = run_dir
        self.seed = int(seed)
        self.checkpoint_dir = os.path.join(run_dir, CHECKPOINT_DIR)
        self.sample_dir = os.path.join(run_dir, SAMPLE_DIR)
        self.time_path = os.path.join(run_dir, TIME_FILE)
        self.metric_path = os.path.join(run_dir, METRICS_FILE)
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        os.makedirs(self.sample_dir, exist_ok=True)

        self.spec = network_spec(config.network)
        self.iteration = config.iteration
        self.latent_dim = config.latent_dim
        self.stop_requested = False
        self.evaluating = False  # inside the callbacks of log_metrics (may be abandoned)
        # Called once restore() accepted the checkpoint (gan.run adopts a proposed config).
        self.on_resume_accepted: Callable[[], None] | None = None
        # For status.json, known once restore() ran: iterations finished (restored or trained
        # in this process) and the iteration count of the latest checkpoint (None: none yet).
        self.restored = False
        self.iterations_done = 0
        self.checkpointed: int | None = None

        data = RealData.of(images)
        if data.folder is not None and not self.spec.streams_data:
            streaming = " or ".join(repr(s.name) for s in networks_where(lambda s: s.streams_data))
            raise ConfigError(f"streamed ImageNet data needs network {streaming}")
        self.folder, self.images = data.folder, data.bank
        self.image_shape, self.num_images = data.image_shape, data.num_images

        self.strategy = make_strategy(config.num_gpus, devices)
        self.num_replicas = self.strategy.num_replicas_in_sync
        keras.utils.set_random_seed(self.seed)
        with self.strategy.scope():
            self.generator, self.discriminator = build_networks(config, self.image_shape)
            self.g_opt = keras.optimizers.Adam(
                config.g_lr, beta_1=config.g_beta1, beta_2=config.g_beta2, epsilon=ADAM_EPSILON
            )
            self.d_opt = keras.optimizers.Adam(
                config.d_lr, beta_1=config.d_beta1, beta_2=config.d_beta2, epsilon=ADAM_EPSILON
            )
            self.g_opt.build(self.generator.trainable_variables)
            self.d_opt.build(self.discriminator.trainable_variables)

        self.rng = tf.random.Generator.from_seed(self.seed)
        self.schedule = self.spec.schedule(
            config,
            self.generator,
            self.discriminator,
            self.g_opt,
            self.d_opt,
            self.rng,
            data,
            self.strategy,
            seed=self.seed,
        )
        self.n_dis = self.schedule.n_dis
        self.batch_size = self.schedule.batch_size
        self.d_batch_size = self.schedule.d_batch_size
        self.g_batch_size = self.schedule.g_batch_size
        vis_n = config.vis_num_h * config.vis_num_w
        self.vis_latents = tf.Variable(
            self.rng.normal([vis_n, self.latent_dim]), trainable=False, name="vis_latents"
        )
        self.global_id = tf.Variable(-1, dtype=tf.int64, trainable=False, name="global_id")

        self.checkpoints = RunCheckpoints(
            dict(
                generator=variables_by_path(self.generator),
                discriminator=variables_by_path(self.discriminator),
                g_optimizer=list(self.g_opt.variables),
                d_optimizer=list(self.d_opt.variables),
                rng=self.rng,
                vis_latents=self.vis_latents,
                global_id=self.global_id,
            ),
            self.global_id,
            self.checkpoint_dir,
            renamed={"discriminator": legacy_paths(self.discriminator)},
        )
        self.checkpoint = self.checkpoints.checkpoint
        self._writer: tf.summary.SummaryWriter | None = None  # see the writer property

        self.metric_callbacks = list(metric_callbacks or [])
        self.metrics_csv = None
        if self.metric_callbacks:
            columns = [c for m in self.metric_callbacks for c in m.columns()]
            self.metrics_csv = MetricsCsv(self.metric_path, columns)

        self._iteration_fn = self._make_iteration_fn()
        self._generate_fn = tf.function(
            lambda z: self.generator(z, training=False),
            input_signature=[tf.TensorSpec([None, self.latent_dim], tf.float32)],
        )
        self._write_fn = tf.function(self._write, autograph=False)

    @property
    def writer(self) -> tf.summary.SummaryWriter:
        """The event-file writer in ``checkpoint/``, opened on first use: a resume refused
        before it (the config no longer fits the checkpoint) adds no event file."""
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.checkpoint_dir)
        return self._writer

    @property
    def manager(self) -> tf.train.CheckpointManager:
        """The manager of the rotating checkpoints ``checkpoint/model-N``."""
        return self.checkpoints.manager

    def _make_iteration_fn(self):
        jit = self.config.jit_compile
        # No AutoGraph: the schedules' control flow is Python (unrolled) or explicit graph
        # loops, and converting every function they call took half of the first trace.
        return tf.function(self.schedule.iteration, jit_compile=jit, autograph=False)

    def open_stream(self, start_iteration: int = 0) -> None:
        """Open the streamed real data at iteration ``start_iteration`` (a no-op in memory);
        see :meth:`gan.schedules.Schedule.open_stream`."""
        if self.folder is None:
            return
        self.schedule.open_stream(start_iteration)
        # A traced step holds the iterator it was traced with: trace again for the new one.
        self._iteration_fn = self._make_iteration_fn()

    def train_iteration(self, with_summary: bool = True) -> dict[str, tf.Tensor]:
        """Run one full iteration (n_dis D steps with u updates, then a G step)."""
        if self.schedule.stream_unopened:
            self.open_stream(0)
        return self._iteration_fn(bool(with_summary))

    # ----------------------------------------------------------------- outputs
    def generate(self, z: np.ndarray | tf.Tensor, batch_size: int | None = None) -> np.ndarray:
        """Inference-mode G on ``z`` in batches; float32 NHWC in [-1, 1]."""
        bs = batch_size or self.g_batch_size
        z = tf.convert_to_tensor(z, tf.float32)
        parts = [self._generate_fn(z[i : i + bs]).numpy() for i in range(0, int(z.shape[0]), bs)]
        return np.concatenate(parts) if parts else np.zeros((0,) + self.image_shape, np.float32)

    def visualize(self, global_id: int) -> str:
        """Write ``sample/global_id-N.png`` from the fixed latents; returns its path."""
        grid = image_grid(
            self.generate(self.vis_latents), self.config.vis_num_h, self.config.vis_num_w
        )
        if grid.shape[-1] == 1:
            grid = grid[..., 0]
        path = os.path.join(self.sample_dir, f"global_id-{global_id}.png")
        with atomic_path(path) as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
        return path

    def metric_context(self) -> MetricContext:
        """What the metric callbacks see of this run."""
        rng = np.random.default_rng([self.seed, 2])
        bs = self.config.metric_batch_size
        self._sample_rng = np.random.default_rng([self.seed, 3])

        def sample(n: int) -> np.ndarray:
            z = self._sample_rng.standard_normal((n, self.latent_dim)).astype(np.float32)
            return self.generate(z, batch_size=bs)

        def sample_real(n: int) -> np.ndarray:
            if self.folder is not None:
                return self.folder.sample_uint8(n, rng)
            idx = rng.integers(0, self.num_images, size=n)
            return self.images[np.sort(idx)]

        return MetricContext(
            sample=sample,
            sample_real=sample_real,
            real_images=self.images,
            rng=rng,
            run_dir=self.run_dir,
        )

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
                cb.load_state_arrays(
                    {k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)}
                )
            state.update({prefix + k: v for k, v in cb.state_arrays().items()})
        if saved is None and state:
            with atomic_path(state_path, suffix=".npz") as tmp:
                np.savez(tmp, **state)
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
        return (
            global_id == 0
            or (global_id + 1) % self.config.time_freq == 0
            or global_id == self.iteration - 1
        )

    def save(self, global_id: int) -> str:
        """Write ``checkpoint/model-N`` (the manager keeps the latest five; see
        :meth:`gan.training_checkpoints.RunCheckpoints.save`) and record it in ``status.json``."""
        path = self.checkpoints.save(global_id)
        self._checkpoint_saved(global_id)
        return path

    def save_extra(self, global_id: int) -> str:
        """Write a kept copy ``checkpoint/global_id-N/model-N`` that rotation never deletes."""
        path = self.checkpoints.save_extra(global_id)
        self._checkpoint_saved(global_id)
        return path

    def _checkpoint_saved(self, global_id: int) -> None:
        self.checkpointed = max(self.checkpointed or 0, global_id + 1)
        self.iterations_done = max(self.iterations_done, global_id + 1)
        self.record_status()

    def record_status(self) -> None:
        """Write ``iteration`` (iterations finished) and ``checkpoint`` (the iteration count of
        the latest checkpoint) into the ``status.json`` ``gan.run`` keeps (none in a bare
        folder), once :meth:`restore` has told them; a folder that cannot be written only gets
        a warning."""
        if not self.restored or not os.path.isfile(status_path(self.run_dir)):
            return
        try:
            update_status(
                self.run_dir, iteration=self.iterations_done, checkpoint=self.checkpointed
            )
        except OSError as exc:
            logging.warning("could not write the checkpoint to status.json: %s", exc)

    def restore(self) -> int:
        """Load the newest checkpoint that reads completely (setting aside newer ones that do
        not); returns its N, or -1. ``metrics.csv`` keeps the rows up to N only. A checkpoint
        the networks of the config no longer fit is a ConfigError (see
        :meth:`gan.training_checkpoints.RunCheckpoints.restore`)."""
        global_id, found = self.checkpoints.restore()
        if self.metrics_csv is not None and found:
            self.metrics_csv.truncate_after(global_id)
        # What survives is what the checkpoint holds (iterations after it are redone).
        self.iterations_done = global_id + 1
        self.checkpointed = global_id + 1 if global_id >= 0 else None
        self.restored = True
        if found:
            self.record_status()
        return global_id

    def write_scalars(self, stats: dict[str, tf.Tensor | float], global_id: int) -> None:
        """TensorBoard scalars for one iteration's diagnostics, written by one traced call:
        written eagerly, the ~30 summary ops cost milliseconds per iteration, the order of a
        whole training step on a GPU."""
        values = {
            name: value if tf.is_tensor(value) else tf.constant(value, tf.float32)
            for name, value in stats.items()
        }
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
        _ = self.writer  # this session's event file, opened once the resume is accepted
        if self.on_resume_accepted is not None:
            self.on_resume_accepted()
        self.open_stream(start)
        self.setup_metrics()
        pending = read_pending(self._pending_path, start - 1)
        if pending:
            logging.info(
                "redoing the evaluation of iteration %d abandoned by a stop: %s",
                start - 1,
                ", ".join(pending),
            )
            left = self._evaluate_stages(start - 1, pending)
            if left:
                return self._stop_in_evaluation(start - 1, left, saved=True)
            os.remove(self._pending_path)
        extra = cfg.extra_checkpoint_freq
        # Progress goes into the status.json gan.run keeps (not into a bare folder).
        status_dir = self.run_dir if os.path.isfile(status_path(self.run_dir)) else None
        progress = TrainingProgress(start, self.iteration, SHOWN_LOSSES, run_dir=status_dir)
        global_id = start - 1
        for global_id in range(start, self.iteration):
            if self._timed(global_id):
                self._time_line(global_id, "starts")
            with_summary = (global_id + 1) % cfg.summary_freq == 0
            stats = self.train_iteration(with_summary)
            self.iterations_done = global_id + 1
            if with_summary:
                self.write_scalars(stats, global_id)
            if self.spec.memory_scalars:
                self.write_scalars(memory_scalars(), global_id)
            if (global_id + 1) % cfg.vis_freq == 0:
                self.visualize(global_id)
            stages = [
                stage
                for stage, every in ((METRICS_STAGE, cfg.metric_freq), (EXTRA_STAGE, extra))
                if every is not None and (global_id + 1) % every == 0
            ]
            left = self._evaluate_stages(global_id, stages)
            if left:
                return self._stop_in_evaluation(global_id, left, saved=False)
            if (global_id + 1) % cfg.save_checkpoint_freq == 0 or global_id == self.iteration - 1:
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
                    if self.spec.extra_outputs:  # the original's ResNet code only saved
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
        logging.warning(
            "stop requested during the evaluation of iteration %d: saved its "
            "checkpoint; the evaluation (%s) is redone on resume",
            global_id,
            ", ".join(left),
        )
        return False
