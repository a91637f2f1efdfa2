"""Runs one training run from its folder: ``python -m gan.run --run_dir DIR``.

The scheduler writes ``DIR/config.json`` (a changed config of a started run goes first to
``DIR/config.proposed.json``: see :func:`run_config`) and launches this module with stdout and
stderr going to ``worker.log``. Exit status: 0 when the run finished (``DIR/COMPLETED`` is
written), 75 when SIGTERM/SIGINT stopped it after a checkpoint (run it again to resume), 2 for
bad input (the message names the file, key or value), anything else for a crash.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from absl import app, flags, logging

from gan.config import RunConfig
from gan.errors import UserError, error_line
from gan.evaluation_stages import EvaluationAbandoned
from gan.real_images import run_data
from gan.run_folder import (
    COMPLETED,
    COMPLETED_FILE,
    CONFIG_FILE,
    CRASHED,
    EXIT_BAD_INPUT,
    EXIT_CRASHED,
    EXIT_INTERRUPTED,
    FAILED,
    INTERRUPTED,
    PROPOSED_CONFIG_FILE,
    RUNNING,
    one_line,
    process_status,
    read_run_config,
    read_status,
    run_seed,
    update_status,
)

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "the run folder holding config.json")


def configure_runtime(config: RunConfig) -> int:
    """Apply the run's process-wide TensorFlow settings (before any op runs).

    First, with ``gpu_memory_growth`` (the default), memory growth on every visible GPU:
    TensorFlow then takes GPU memory as it needs it instead of all of it at start, so several
    runs can share one GPU (a task's ``"gpu": ["0", "0"]`` runs two workers on GPU 0).

    ``inter_op_threads`` 0 means 1 without a GPU: each CPU op already spreads over every core,
    so running independent ops side by side only oversubscribes the cores and keeps both ops'
    buffers alive at once (on the CelebA CNN it costs ~200 MiB of peak memory and no time).
    Returns the value applied (0: TensorFlow's default).
    """
    # TensorFlow: imported here, after config.json is checked (a bad one: one quick error line).
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if config.gpu_memory_growth:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # TensorFlow already initialized this GPU in this process
                logging.warning(
                    "gpu_memory_growth not applied to %s: TensorFlow is already "
                    "initialized in this process",
                    gpu.name,
                )
    threads = config.inter_op_threads
    if threads == 0 and not gpus:
        threads = 1
    if threads and threads != tf.config.threading.get_inter_op_parallelism_threads():
        try:
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already ran an op in this process
            logging.warning(
                "inter_op_threads %d not applied: TensorFlow is already "
                "initialized in this process",
                threads,
            )
            return 0
    return threads


def install_stop_handlers(trainer: Any) -> None:
    """SIGTERM and SIGINT ask ``trainer`` to stop: after the current iteration, with its
    checkpoint saved; during a metric evaluation at once (the handler raises
    ``EvaluationAbandoned`` there, the trainer saves the finished iteration's checkpoint and
    the resumed run redoes the evaluation)."""

    def request_stop(signum, _frame):
        trainer.stop_requested = True
        if trainer.evaluating:  # checkpoint first: the evaluation is redone after the resume
            logging.warning("signal %d: abandoning this evaluation to save the checkpoint", signum)
            trainer.evaluating = False
            raise EvaluationAbandoned
        logging.warning("signal %d: stopping after this iteration", signum)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def run_config(run_dir: str) -> tuple[RunConfig, bool]:
    """The config to train the run in ``run_dir`` with, and whether it is a proposed one
    (``config.proposed.json``: the scheduler's changed config, adopted only once the run's
    checkpoint and ``metrics.csv`` accept it)."""
    if os.path.isfile(os.path.join(run_dir, PROPOSED_CONFIG_FILE)):
        return read_run_config(run_dir, PROPOSED_CONFIG_FILE), True
    return read_run_config(run_dir), False


def adopt_proposed_config(run_dir: str) -> None:
    """Make the proposed config the run's ``config.json`` (its resume was accepted)."""
    os.replace(os.path.join(run_dir, PROPOSED_CONFIG_FILE), os.path.join(run_dir, CONFIG_FILE))


def train_run(run_dir: str) -> int:
    """Train the run in ``run_dir`` to completion or interruption; returns the exit status."""
    config, proposed = run_config(run_dir)
    update_status(run_dir, **process_status(RUNNING, total=config.iteration))
    configure_runtime(config)

    # TensorFlow: imported here, after config.json is checked (a bad one: one quick error line).
    from gan.metrics.registry import build_metrics
    from gan.trainer import Trainer

    seed = run_seed(config, run_dir)
    logging.info("run %s, seed %d", run_dir, seed)
    metrics = build_metrics(config)
    # No reference to a loaded array is kept here: the trainer's ImageBank holds the only copy.
    trainer = Trainer(config, run_dir, run_data(config), metric_callbacks=metrics, seed=seed)
    if trainer.folder is not None:
        logging.info(
            "imagenet: streaming %d images of %d classes",
            trainer.num_images,
            trainer.folder.num_classes,
        )
    else:
        logging.info("%s: %s %s", config.dataset, trainer.images.shape, trainer.images.dtype.name)

    if proposed:
        trainer.on_resume_accepted = lambda: adopt_proposed_config(run_dir)
    install_stop_handlers(trainer)
    try:
        finished = trainer.train()
    except BaseException:
        trainer.record_status()  # the iteration reached and the latest checkpoint
        raise
    if not finished:
        update_status(
            run_dir,
            INTERRUPTED,
            exit_code=EXIT_INTERRUPTED,
            iteration=trainer.iterations_done,
            checkpoint=trainer.checkpointed,
        )
        return EXIT_INTERRUPTED
    with open(os.path.join(run_dir, COMPLETED_FILE), "w") as f:
        f.write("completed\n")
    update_status(
        run_dir, COMPLETED, iteration=config.iteration, checkpoint=trainer.checkpointed, exit_code=0
    )
    logging.info("run completed: %s", run_dir)
    return 0


def _record_ending(
    run_dir: str, state: str, exit_code: int, error: str | None, survived: bool = False
) -> None:
    """Write the run's ending into status.json when the folder is a run folder and writable;
    ``survived``: the iterations left are those of the latest checkpoint (nothing trained)."""
    if not os.path.isfile(os.path.join(run_dir, CONFIG_FILE)):
        return
    try:
        changes: dict[str, Any] = {
            "exit_code": exit_code,
            "error": None if error is None else one_line(error),
        }
        old = read_status(run_dir)
        if survived and old is not None and old.checkpoint is not None:
            changes["iteration"] = old.checkpoint
        update_status(run_dir, **process_status(state, **changes))
    except OSError as exc:
        logging.warning("could not write the run's status: %s", exc)


class StoppedDuringStartUp(BaseException):
    """SIGTERM/SIGINT before the trainer's own handlers are installed (loading TensorFlow,
    the data, the networks): nothing was trained in this process, so the run stops at once,
    interrupted, with its latest checkpoint as it was."""


def _stop_during_start_up(signum, _frame):
    raise StoppedDuringStartUp(signum)


def execute(run_dir: str) -> int:
    """Train the run in ``run_dir`` and record how it ended in ``status.json``; returns the
    exit status (0, 2 bad input, 75 stopped by a signal). A crash is recorded and re-raised."""
    old = {
        sig: signal.signal(sig, _stop_during_start_up) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        return train_run(run_dir)
    except StoppedDuringStartUp as stop:
        logging.warning("signal %d during start-up: stopping before training", stop.args[0])
        _record_ending(run_dir, INTERRUPTED, EXIT_INTERRUPTED, None, survived=True)
        return EXIT_INTERRUPTED
    except UserError as e:  # anything else is a bug and keeps its traceback
        print(error_line(e), file=sys.stderr)
        _record_ending(run_dir, FAILED, EXIT_BAD_INPUT, str(e))
        return EXIT_BAD_INPUT
    except Exception as e:
        _record_ending(run_dir, CRASHED, EXIT_CRASHED, f"{type(e).__name__}: {e}")
        raise
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def main(argv: list[str]) -> None:
    del argv
    if not FLAGS.run_dir:
        print("error: --run_dir is required", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(execute(FLAGS.run_dir))


if __name__ == "__main__":
    app.run(main)
