"""The checkpoints of a run folder, and its generator restored from one without training state.

A run writes ``checkpoint/model-N`` (the latest five kept by the manager) and, with
``extra_checkpoint_freq``, kept copies ``checkpoint/global_id-N/model-N`` that rotation never
deletes; ``N`` is the ``global_id`` of the last finished iteration. Checkpoints name every
variable by its Keras path (``gan.training_checkpoints.variables_by_path``), so the generator alone
can be rebuilt from the run config and read back from any of them (a partial restore: the
discriminator, optimizer slots and random state stay in the file, unread).

Every problem (no checkpoints, a number that does not exist, a file that does not hold the
generator) is a ``ConfigError`` naming the folder or file and what exists; whether a folder is a
run folder at all is ``gan.run_folder.require_run_folder``.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass

from gan.config import ConfigError, RunConfig
from gan.networks.specs import build_generator
from gan.run_folder import CHECKPOINT_DIR

MODEL_PREFIX = "model"  # gan.training_checkpoints.MODEL_NAME
KEPT_PREFIX = "global_id-"
LATEST = "latest"
KEPT = "kept"
ALL = "all"


@dataclass(frozen=True)
class CheckpointRef:
    """One checkpoint of a run: its ``global_id``, its path prefix and whether it is a kept one."""

    global_id: int
    path: str
    kept: bool = False

    @property
    def label(self) -> str:
        """``model-N`` or ``global_id-N`` (for tables and messages)."""
        return f"{KEPT_PREFIX}{self.global_id}" if self.kept else f"{MODEL_PREFIX}-{self.global_id}"


def list_checkpoints(run_dir: str) -> list[CheckpointRef]:
    """Every complete checkpoint of the run (rotated ``model-N`` and kept ``global_id-N``),
    sorted by ``global_id``, rotated before kept for the same N."""
    folder = os.path.join(run_dir, CHECKPOINT_DIR)
    out = []
    pattern = re.compile(rf"{MODEL_PREFIX}-(\d+)\.index$")
    for index in glob.glob(os.path.join(folder, f"{MODEL_PREFIX}-*.index")):
        m = pattern.search(os.path.basename(index))
        if m:
            out.append(CheckpointRef(int(m.group(1)), index[: -len(".index")]))
    for index in glob.glob(os.path.join(folder, f"{KEPT_PREFIX}*", f"{MODEL_PREFIX}-*.index")):
        m = pattern.search(os.path.basename(index))
        if m and os.path.basename(os.path.dirname(index)) == f"{KEPT_PREFIX}{m.group(1)}":
            out.append(CheckpointRef(int(m.group(1)), index[: -len(".index")], kept=True))
    return sorted(out, key=lambda c: (c.global_id, c.kept))


def _available(refs: list[CheckpointRef]) -> str:
    rotated = [str(c.global_id) for c in refs if not c.kept]
    kept = [str(c.global_id) for c in refs if c.kept]
    return (
        f"model-N for N in {', '.join(rotated) or 'none'}; kept global_id-N for N in "
        f"{', '.join(kept) or 'none'}"
    )


def select_checkpoints(
    run_dir: str, which: str = LATEST, single: bool = False
) -> list[CheckpointRef]:
    """The checkpoints ``which`` names, each proven readable: ``latest``, ``N`` (``model-N``,
    else the kept ``global_id-N``), ``kept`` (every kept one) or ``all`` (every one, one per N,
    the rotated copy first). ``single`` refuses ``kept`` and ``all`` (sample and export read one).

    Every tensor of a chosen checkpoint is read first, as training's resume does. One whose
    files do not read completely (cut mid-write) gets a ``warning:`` line on stderr naming it:
    ``latest`` falls back to the newest readable one (the kept copy of the same N first), ``kept``
    and ``all`` leave it out; an ``N`` none of whose copies reads is a ConfigError.
    """
    refs = list_checkpoints(run_dir)
    if not refs:
        raise ConfigError(
            f"{run_dir} has no checkpoints ({CHECKPOINT_DIR}/model-N.index): the "
            "run has not saved one yet (see save_checkpoint_freq)"
        )
    which = str(which).strip()
    if which in (KEPT, ALL) and single:
        raise ConfigError(
            f"--checkpoint {which}: this command reads one checkpoint; give "
            f"'latest' or a number ({_available(refs)})"
        )
    if which == LATEST:
        newest_first = sorted(refs, key=lambda c: (-c.global_id, c.kept))
        return _readable(run_dir, newest_first, refs, first_only=True)
    if which == KEPT:
        kept = [c for c in refs if c.kept]
        if not kept:
            raise ConfigError(
                f"{run_dir} has no kept checkpoints (extra_checkpoint_freq); "
                f"it has {_available(refs)}"
            )
        return _readable(run_dir, kept, refs)
    if which == ALL:
        by_number: dict[int, list[CheckpointRef]] = {}
        for c in refs:
            by_number.setdefault(c.global_id, []).append(c)
        out = []
        for copies in by_number.values():
            out += _readable(run_dir, copies, refs, first_only=True, required=False)
        if not out:
            raise ConfigError(f"{run_dir}: no checkpoint reads completely ({_available(refs)})")
        return out
    try:
        number = int(which)
    except ValueError:
        raise ConfigError(
            f"--checkpoint {which!r}: expected latest, kept, all or a checkpoint number N"
        ) from None
    found = [c for c in refs if c.global_id == number]
    if not found:
        raise ConfigError(f"{run_dir}: no checkpoint {number}; it has {_available(refs)}")
    return _readable(run_dir, found, refs, first_only=True)


def unreadable(ref: CheckpointRef) -> str | None:
    """Why the checkpoint's files do not read completely (every tensor is read), or None."""
    # TensorFlow: imported here so that the CLI importing this module stays TensorFlow-free.
    from gan.training_checkpoints import read_shapes

    return read_shapes(ref.path)[1]


def _readable(
    run_dir: str,
    candidates: list[CheckpointRef],
    refs: list[CheckpointRef],
    first_only: bool = False,
    required: bool = True,
) -> list[CheckpointRef]:
    """The readable ones of ``candidates`` (only the first with ``first_only``), with a
    warning line for each unreadable one tried; a ConfigError when ``required`` and none
    reads."""
    bad: list[tuple[CheckpointRef, str]] = []
    good: list[CheckpointRef] = []
    for ref in candidates:
        problem = unreadable(ref)
        if problem is not None:
            bad.append((ref, problem))
            continue
        good.append(ref)
        if first_only:
            break
    if not good and required:
        ref, problem = bad[0]
        if len(candidates) == 1:
            raise ConfigError(
                f"{ref.path}: checkpoint {ref.label} does not read completely "
                f"({problem}); choose another with --checkpoint "
                f"({_available(refs)})"
            )
        tried = ", ".join(c.label for c in candidates)
        raise ConfigError(
            f"{run_dir}: none of the checkpoints {tried} reads completely "
            f"({ref.label}: {problem}); the run has {_available(refs)}"
        )
    instead = f"using {good[0].label} instead" if first_only and good else "left out"
    for ref, problem in bad:
        print(
            f"warning: checkpoint {ref.path} does not read completely ({problem}); {instead}",
            file=sys.stderr,
            flush=True,
        )
    return good


def writable_folder(folder: str, hint: str) -> str:
    """Create ``folder`` (and its parents) and prove a file can be written in it; a
    ConfigError naming the folder and ``hint`` (what to do instead) when not."""
    probe = os.path.join(folder, f".write-probe-{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write there ({exc.strerror or exc}); {hint}") from None
    return folder


def load_generator(config: RunConfig, checkpoint: CheckpointRef):
    """The run's generator (built from ``config``) with its variables read from
    ``checkpoint``; nothing else of the checkpoint is read."""
    generator = build_generator(config, config.image_shape)
    restore_generator(generator, checkpoint)
    return generator


def restore_generator(generator, checkpoint: CheckpointRef) -> None:
    """Read every variable of ``generator`` (by its path, as training saved it) from
    ``checkpoint``; a ConfigError names the file when one is missing or of another shape."""
    # TensorFlow: imported here so that importing this module (the CLI) stays TensorFlow-free.
    import tensorflow as tf

    from gan.training_checkpoints import shape_mismatch, variables_by_path

    hint = "does the run's config.json still describe the network it trained?"
    objects = {"generator": variables_by_path(generator)}
    try:
        shapes = tf.train.load_checkpoint(checkpoint.path).get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as e:
        problem = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    else:
        # Compared before reading: a read that fails part-way leaves a restore that TensorFlow
        # reports, when it is collected, in a hundred warning lines after the error line.
        problem = shape_mismatch(objects, shapes)
    if problem is not None:
        raise ConfigError(
            f"{checkpoint.path}: cannot read the generator from this checkpoint ({problem}); {hint}"
        )
    reader = tf.train.Checkpoint(**objects)
    try:
        status = reader.read(checkpoint.path)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError) as e:
        raise ConfigError(
            f"{checkpoint.path}: cannot read the generator from this checkpoint "
            f"({type(e).__name__}: {str(e).splitlines()[0][:300]}); {hint}"
        ) from None


def generate_fn(generator, latent_dim: int):
    """Inference-mode G as one traced function ``z [None, latent_dim] -> images in [-1, 1]``
    (the trainer's ``_generate_fn``)."""
    # TensorFlow: imported here so that importing this module (the CLI) stays TensorFlow-free.
    import tensorflow as tf

    return tf.function(
        lambda z: generator(z, training=False),
        input_signature=[tf.TensorSpec([None, latent_dim], tf.float32)],
    )
