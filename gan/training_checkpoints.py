"""A training run's checkpoints as it writes and resumes them: every variable by its Keras path,
the rotating ``checkpoint/model-N``, the kept ``checkpoint/global_id-N/model-N``, and the restore
that falls back past checkpoints whose files do not read completely, reads the gammas of
checkpoints written before their rename by their old names, and refuses a checkpoint whose
variables the run's config now builds in other shapes.

Reading a finished run's checkpoints (the after-training commands) is
:mod:`gan.generator_checkpoints`.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import time
from typing import Any

import keras
import tensorflow as tf
from absl import logging

from gan.config import ConfigError
from gan.networks.base import NormalizedDiscriminator
from gan.run_folder import CONFIG_FILE, CORRUPT_SUFFIX, one_line

MODEL_NAME = "model"
MAX_TO_KEEP = 5
VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"  # ends the key of a variable's value


def variables_by_path(model: keras.Model) -> dict[str, keras.Variable]:
    """Every variable of ``model`` (weights, u vectors, BN statistics, gammas) by its path.

    Keras 3 layers do not expose their variables to ``tf.train.Checkpoint`` as trackable
    children, so checkpoints name them explicitly; paths are stable because every layer is
    named.
    """
    out = {v.path: v for v in model.variables}
    if len(out) != len(model.variables):
        raise ValueError(f"{model.name}: variable paths are not unique")
    return out


def legacy_paths(model: keras.Model) -> dict[str, str]:
    """Path -> the path checkpoints written before the gamma rename used, for the variables
    of ``model`` that had another one (the gammas ``scale{i}``, now ``gamma{i}``)."""
    if isinstance(model, NormalizedDiscriminator):
        return model.legacy_variable_paths()
    return {}


def checkpoint_key(child: str, name: str | int | None = None) -> str:
    """The key ``tf.train.Checkpoint`` stores a variable under: the variable ``child`` itself,
    or the entry ``name`` of the dict or list ``child`` (``/`` in a name escaped as ``.S``,
    ``.`` as ``..``, as TensorFlow escapes object names)."""
    parts = [child] + ([] if name is None else [str(name)])
    return "/".join(p.replace(".", "..").replace("/", ".S") for p in parts) + VALUE_SUFFIX


def named_variables(objects: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(checkpoint key, label for messages, variable) of every variable in ``objects`` (the
    children of a ``tf.train.Checkpoint``: a variable, a dict of them by path, or a list),
    in order; other children (the random generator) are left out."""
    out = []
    for child, obj in objects.items():
        if isinstance(obj, dict):
            out += [
                (checkpoint_key(child, name), f"{child} variable {name}", v)
                for name, v in obj.items()
            ]
        elif isinstance(obj, (list, tuple)):
            out += [
                (checkpoint_key(child, i), f"{child} variable {i} ({_path(v)})", v)
                for i, v in enumerate(obj)
            ]
        elif isinstance(obj, (tf.Variable, keras.Variable)):
            out.append((checkpoint_key(child), child, obj))
    return out


def _path(variable: Any) -> str:
    return getattr(variable, "path", None) or variable.name


def shape_mismatch(objects: dict[str, Any], shapes: dict[str, list[int]]) -> str | None:
    """The first variable of ``objects`` that the checkpoint with the tensor shapes ``shapes``
    lacks or holds in another shape (with both shapes), else the first network variable (of a
    dict child) it holds that ``objects`` lacks; None when all fit."""
    expected = set()
    for key, label, variable in named_variables(objects):
        expected.add(key)
        built = [int(d) for d in variable.shape]
        if key not in shapes:
            return f"it has no {label} (shape {built} as config.json now builds it)"
        if list(shapes[key]) != built:
            return f"its {label} has shape {list(shapes[key])}, config.json now builds {built}"
    for child, obj in objects.items():
        if not isinstance(obj, dict):
            continue
        for key in sorted(shapes):
            if key.startswith(f"{child}/") and key.endswith(VALUE_SUFFIX) and key not in expected:
                name = key[len(child) + 1 : -len(VALUE_SUFFIX)].replace(".S", "/")
                name = name.replace("..", ".")
                return (
                    f"its {child} variable {name} (shape {list(shapes[key])}) is one "
                    "config.json no longer builds"
                )
    return None


class RunCheckpoints:
    """The checkpoints of one run in ``checkpoint_dir``: ``checkpoint`` is the
    ``tf.train.Checkpoint`` of its whole training state ``objects`` (its children by name),
    whose ``global_id`` variable records the iteration a checkpoint ends; ``manager`` keeps the
    latest ``MAX_TO_KEEP``. ``renamed`` gives, per child, the old path of each variable that
    checkpoints written before a rename name otherwise (:func:`legacy_paths`)."""

    def __init__(
        self,
        objects: dict[str, Any],
        global_id: tf.Variable,
        checkpoint_dir: str,
        renamed: dict[str, dict[str, str]] | None = None,
    ):
        self.objects = dict(objects)
        self.renamed = {child: paths for child, paths in (renamed or {}).items() if paths}
        self.checkpoint = tf.train.Checkpoint(**self.objects)
        self.global_id = global_id
        self.checkpoint_dir = checkpoint_dir
        self.manager = self._manager()

    def _manager(self) -> tf.train.CheckpointManager:
        return tf.train.CheckpointManager(
            self.checkpoint,
            self.checkpoint_dir,
            max_to_keep=MAX_TO_KEEP,
            checkpoint_name=MODEL_NAME,
        )

    def save(self, global_id: int) -> str:
        """Write ``checkpoint/model-N`` (the manager keeps the latest five).

        A failed write (e.g. a full disk) leaves no ``model-N_temp/`` folder behind, and a
        successful one removes any an earlier failure left.
        """
        self.global_id.assign(global_id)
        try:
            return self.manager.save(checkpoint_number=global_id)
        finally:
            remove_temp_folders(self.checkpoint_dir)

    def save_extra(self, global_id: int) -> str:
        """Write a kept copy ``checkpoint/global_id-N/model-N`` that rotation never deletes."""
        self.global_id.assign(global_id)
        folder = os.path.join(self.checkpoint_dir, f"global_id-{global_id}")
        try:
            return self.checkpoint.write(os.path.join(folder, f"{MODEL_NAME}-{global_id}"))
        finally:
            remove_temp_folders(folder)

    def objects_for(self, keys: set[str] | dict[str, Any]) -> dict[str, Any]:
        """``objects`` as a checkpoint holding ``keys`` names them: a renamed variable under
        its old path where the checkpoint has only that (one written before the rename); the
        same dict when nothing is named otherwise."""
        objects = self.objects
        for child, paths in self.renamed.items():
            old = {
                path: paths[path]
                for path in objects[child]
                if path in paths
                and checkpoint_key(child, path) not in keys
                and checkpoint_key(child, paths[path]) in keys
            }
            if old:
                objects = dict(objects)
                objects[child] = {old.get(path, path): v for path, v in objects[child].items()}
        return objects

    def restore(self) -> tuple[int, bool]:
        """Load the newest checkpoint that reads completely; returns its N (or -1) and whether
        any checkpoint was found (read or set aside).

        A newer checkpoint whose files do not read completely (a node lost mid-write) is set
        aside: one warning line names it, its files get the suffix ``.corrupt`` (kept, not
        deleted) and the checkpoint state file stops naming it. A checkpoint that lacks a
        variable of ``objects``, holds one in another shape, or holds a network variable the
        networks no longer have (the config changed since it was written) is a ConfigError
        naming it and the first such variable, before anything is restored.
        """
        bad: list[tuple[str, str]] = []
        chosen = None
        shapes: dict[str, list[int]] = {}
        for path in reversed(self.manager.checkpoints):
            shapes, problem = read_shapes(path)
            if problem is None:
                chosen = path
                break
            bad.append((path, problem))
        for path, problem in bad:
            files = ", ".join(sorted(os.path.basename(f) for f in checkpoint_files(path)))
            logging.warning(
                "checkpoint %s does not read completely (%s; files: %s): renamed "
                "aside with the suffix %s; resuming from %s",
                path,
                problem,
                files or "none",
                CORRUPT_SUFFIX,
                chosen or "scratch",
            )
        if bad:
            self._set_aside([path for path, _ in bad])
        global_id = -1
        if chosen is not None:
            objects = self.objects_for(shapes)
            mismatch = shape_mismatch(objects, shapes)
            if mismatch is not None:
                run_dir = os.path.dirname(os.path.abspath(self.checkpoint_dir))
                raise ConfigError(
                    f"{chosen}: cannot resume from this checkpoint: {mismatch}; the config "
                    f"changed since this checkpoint was written (see {CONFIG_FILE}): restore "
                    "the old values, or start over in a new results folder (or delete "
                    f"{run_dir}; --force_rerun clears completed runs only)"
                )
            reader = self.checkpoint if objects is self.objects else tf.train.Checkpoint(**objects)
            reader.restore(chosen).assert_existing_objects_matched()
            global_id = int(self.global_id.numpy())
            logging.info("restored %s (iteration %d)", chosen, global_id)
        return global_id, chosen is not None or bool(bad)

    def _set_aside(self, bad: list[str]) -> None:
        """Rename the files of the checkpoints ``bad`` to ``*.corrupt`` and rewrite the state
        file (and the manager) to name only the others."""
        for path in bad:
            for name in checkpoint_files(path):
                os.replace(name, name + CORRUPT_SUFFIX)
        keep = [p for p in self.manager.checkpoints if p not in bad]
        state = os.path.join(self.checkpoint_dir, "checkpoint")
        if keep:
            # With timestamps: a new CheckpointManager (the next start) ignores entries without.
            now = time.time()
            tf.compat.v1.train.update_checkpoint_state(
                self.checkpoint_dir,
                keep[-1],
                all_model_checkpoint_paths=keep,
                all_model_checkpoint_timestamps=[now] * len(keep),
                last_preserved_timestamp=now - 1.0,
            )
        elif os.path.exists(state):
            os.replace(state, state + CORRUPT_SUFFIX)
        self.manager = self._manager()


def checkpoint_files(prefix: str) -> list[str]:
    """The files of the checkpoint ``prefix`` (``.index``, ``.data-*``), without set-aside ones."""
    return [
        f
        for f in glob.glob(glob.escape(prefix) + ".*")
        if re.fullmatch(r"\.(index|data-\d+-of-\d+)", f[len(prefix) :])
    ]


def read_shapes(prefix: str) -> tuple[dict[str, list[int]], str | None]:
    """The shape of every tensor of the checkpoint ``prefix`` by its key, after reading each
    completely; or ``{}`` and why it does not read."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        for name in shapes:
            reader.get_tensor(name)
    except Exception as exc:  # a cut or missing file fails in many ways (IndexError, DataLoss)
        return {}, one_line(f"{type(exc).__name__}: {exc}", 200)
    return shapes, None


def remove_temp_folders(folder: str) -> None:
    """Remove the ``model-N_temp`` folders a failed checkpoint write leaves in ``folder``."""
    for path in glob.glob(os.path.join(glob.escape(folder), f"{MODEL_NAME}-*_temp")):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
