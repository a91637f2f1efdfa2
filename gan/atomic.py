"""Files written so that a reader sees the old or the whole new content, never a part, and the
names of the transient files that writers leave beside their targets.

Every file a run, the report or a command writes goes through :func:`atomic_path`. The
temporary names (``NAME.tmp.<pid>.<thread>``) and the Inception weights parked between
evaluations (:data:`INCEPTION_WEIGHTS_PREFIX`) are what :mod:`gan.run_folder`'s cleanup
recognizes. Imports nothing of the package, so that any module can write files without
importing the run config.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from typing import Any

#: Inception weights parked on disk between evaluations (gan/metrics/inception/graph.py).
INCEPTION_WEIGHTS_PREFIX = ".inception_weights."


def remove_path(path: str) -> None:
    """Delete the file, link or folder ``path`` if there is one."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(
    path: str, suffix: str = "", sync: bool = False, sync_folder: bool | None = None
) -> Iterator[str]:
    """Yield a temporary path beside ``path`` to write a file or a folder to; rename it over
    ``path`` when the block ends, delete it when the block fails.

    ``path`` is then absent, the old content or the complete new one, never a part. The name is
    ``NAME.tmp.<pid>.<thread><suffix>`` (``suffix`` for writers that want an extension), which
    :func:`remove_temporaries` and :func:`gan.run_folder.clear_run` recognize. A new folder, or
    anything replacing a folder, moves the old ``path`` aside first and deletes it after the
    rename.
    ``sync`` fsyncs the new file before the rename and ``sync_folder`` (default: ``sync``) its
    folder after it.
    """
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}{suffix}"
    remove_path(tmp)
    try:
        yield tmp
        if sync and os.path.isfile(tmp):
            _fsync(tmp)
        if os.path.lexists(path) and (
            os.path.isdir(tmp) or (os.path.isdir(path) and not os.path.islink(path))
        ):
            old = f"{tmp}.old"
            os.replace(path, old)
            os.replace(tmp, path)
            remove_path(old)
        else:
            os.replace(tmp, path)
        if sync if sync_folder is None else sync_folder:
            _fsync(os.path.dirname(os.path.abspath(path)))
    except BaseException:
        remove_path(tmp)
        raise


def write_atomic(path: str, data: str | bytes, sync: bool = False) -> None:
    """Write ``data`` (text as is, no newline translation) to ``path`` through
    :func:`atomic_path`; ``sync`` fsyncs the file (not its folder)."""
    with atomic_path(path, sync=sync, sync_folder=False) as tmp:
        with open(tmp, "wb") if isinstance(data, bytes) else open(tmp, "w", newline="") as f:
            f.write(data)


def write_json_atomic(path: str, obj: Any) -> None:
    """Write ``obj`` as JSON (sorted keys, indented) to ``path`` through :func:`atomic_path`,
    synced to disk."""
    write_atomic(path, json.dumps(obj, sort_keys=True, indent=2) + "\n", sync=True)


def remove_temporaries(folder: str, pid: int) -> list[str]:
    """Delete the temporary files (``NAME.tmp.<pid>``, ``NAME.tmp.<pid>.<thread>``) that process
    ``pid`` left in ``folder`` or below it when a write failed (e.g. a full disk); returns
    their paths."""
    removed = []
    mark = f".tmp.{pid}"
    for parent, _, names in os.walk(folder):
        for name in names:
            if name.endswith(mark) or f"{mark}." in name:
                path = os.path.join(parent, name)
                try:
                    os.remove(path)
                    removed.append(path)
                except OSError:
                    pass
    return removed
