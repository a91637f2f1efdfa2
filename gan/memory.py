"""The process's memory: giving freed heap memory back to the operating system, and the
``memory/*`` scalars a ResNet run writes every iteration."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import resource

import psutil


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def trim_heap() -> bool:
    """Return the malloc heap's free pages to the OS (glibc ``malloc_trim(0)``).

    After a burst of medium-sized allocations (parsing the 96 MB Inception graph, say), glibc
    keeps the freed pages mapped inside its heap, where only later ``malloc`` calls can reuse
    them; TensorFlow's large buffers come from separate mappings and never do, so those pages
    stay resident for the rest of the run. Returns False where the C library has no
    ``malloc_trim`` (not glibc): nothing is done there.
    """
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def memory_scalars() -> dict[str, float]:
    """``memory/peak_rss`` (KiB, getrusage), ``memory/rss`` and ``memory/vms`` (bytes)."""
    info = psutil.Process(os.getpid()).memory_info()
    return {
        "memory/peak_rss": float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "memory/rss": float(info.rss),
        "memory/vms": float(info.vms),
    }
