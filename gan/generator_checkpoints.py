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
from dataclasses import dataclass

from gan.config import ConfigError, RunConfig
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
            out.append(CheckpointRef(int(m.group(1)), index[:-len(".index")]))
    for index in glob.glob(os.path.join(folder, f"{KEPT_PREFIX}*", f"{MODEL_PREFIX}-*.index")):
        m = pattern.search(os.path.basename(index))
        if m and os.path.basename(os.path.dirname(index)) == f"{KEPT_PREFIX}{m.group(1)}":
            out.append(CheckpointRef(int(m.group(1)), index[:-len(".index")], kept=True))
    return sorted(out, key=lambda c: (c.global_id, c.kept))


def _available(refs: list[CheckpointRef]) -> str:
    rotated = [str(c.global_id) for c in refs if not c.kept]
    kept = [str(c.global_id) for c in refs if c.kept]
    return (f"model-N for N in {', '.join(rotated) or 'none'}; kept global_id-N for N in "
            f"{', '.join(kept) or 'none'}")


def select_checkpoints(run_dir: str, which: str = LATEST, single: bool = False
                       ) -> list[CheckpointRef]:
    """The checkpoints ``which`` names: ``latest``, ``N`` (``model-N``, else the kept
    ``global_id-N``), ``kept`` (every kept one) or ``all`` (every one, one per N, the rotated
    copy first). ``single`` refuses ``kept`` and ``all`` (sample and export read one)."""
    refs = list_checkpoints(run_dir)
    if not refs:
        raise ConfigError(f"{run_dir} has no checkpoints ({CHECKPOINT_DIR}/model-N.index): the "
                          "run has not saved one yet (see save_checkpoint_freq)")
    which = str(which).strip()
    if which in (KEPT, ALL) and single:
        raise ConfigError(f"--checkpoint {which}: this command reads one checkpoint; give "
                          f"'latest' or a number ({_available(refs)})")
    if which == LATEST:
        rotated = [c for c in refs if not c.kept]
        return [max(rotated or refs, key=lambda c: c.global_id)]
    if which == KEPT:
        kept = [c for c in refs if c.kept]
        if not kept:
            raise ConfigError(f"{run_dir} has no kept checkpoints (extra_checkpoint_freq); "
                              f"it has {_available(refs)}")
        return kept
    if which == ALL:
        seen: dict[int, CheckpointRef] = {}
        for c in refs:
            seen.setdefault(c.global_id, c)
        return sorted(seen.values(), key=lambda c: c.global_id)
    try:
        number = int(which)
    except ValueError:
        raise ConfigError(f"--checkpoint {which!r}: expected latest, kept, all or a "
                          "checkpoint number N") from None
    found = [c for c in refs if c.global_id == number]
    if not found:
        raise ConfigError(f"{run_dir}: no checkpoint {number}; it has {_available(refs)}")
    return found[:1]


def load_generator(config: RunConfig, checkpoint: CheckpointRef):
    """The run's generator (built from ``config``) with its variables read from
    ``checkpoint``; nothing else of the checkpoint is read."""
    # TensorFlow: imported here so that importing this module (the CLI) stays TensorFlow-free.
    from gan.variants import build_generator

    generator = build_generator(config, config.image_shape)
    restore_generator(generator, checkpoint)
    return generator


def restore_generator(generator, checkpoint: CheckpointRef) -> None:
    """Read every variable of ``generator`` (by its path, as training saved it) from
    ``checkpoint``; a ConfigError names the file when one is missing or of another shape."""
    # TensorFlow: imported here so that importing this module (the CLI) stays TensorFlow-free.
    import tensorflow as tf

    from gan.training_checkpoints import variables_by_path

    reader = tf.train.Checkpoint(generator=variables_by_path(generator))
    try:
        status = reader.read(checkpoint.path)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError) as e:
        raise ConfigError(f"{checkpoint.path}: cannot read the generator from this checkpoint "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:300]}); does the "
                          "run's config.json still describe the network it trained?") from None


def generate_fn(generator, latent_dim: int):
    """Inference-mode G as one traced function ``z [None, latent_dim] -> images in [-1, 1]``
    (the trainer's ``_generate_fn``)."""
    # TensorFlow: imported here so that importing this module (the CLI) stays TensorFlow-free.
    import tensorflow as tf

    return tf.function(lambda z: generator(z, training=False),
                       input_signature=[tf.TensorSpec([None, latent_dim], tf.float32)])
