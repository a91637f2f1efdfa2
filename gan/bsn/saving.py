"""A damaged ``.keras`` file named as such: ``import gan.bsn`` wraps Keras' ``load_model``.

Keras answers a ``.keras`` file that is not a complete zip archive (a copy cut short, a disk
that filled up while saving) with "File not found", though the file is there. The wrapper
checks that case first and raises one :class:`gan.errors.DataError` saying the file is damaged;
every other call goes to Keras' own ``load_model`` unchanged.
"""

from __future__ import annotations

import functools
import os
import zipfile
from collections.abc import Callable
from typing import Any

import keras

from gan.errors import DataError


def check_keras_file(filepath: Any) -> None:
    """A DataError when ``filepath`` is an existing ``.keras`` file that is not a whole zip."""
    path = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else None
    if path and path.endswith(".keras") and os.path.isfile(path):
        if not zipfile.is_zipfile(path):
            raise DataError(
                f"{path}: the .keras file is damaged (not a complete zip archive, "
                f"{os.path.getsize(path)} bytes; cut short while copying or saving?); save "
                f"the model again or load an earlier copy"
            )


def _checked(load: Callable) -> Callable:
    @functools.wraps(load)
    def load_model(filepath: Any, *args, **kwargs):
        check_keras_file(filepath)
        return load(filepath, *args, **kwargs)

    load_model.checks_damaged_files = True
    return load_model


def install() -> None:
    """Wrap ``keras.saving.load_model`` and ``keras.models.load_model`` once."""
    for module in (keras.saving, keras.models):
        if not getattr(module.load_model, "checks_damaged_files", False):
            module.load_model = _checked(module.load_model)
