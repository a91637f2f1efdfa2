"""Freed heap pages go back to the operating system."""

import platform

import pytest

from gan.memory import trim_heap


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_trim_heap_returns_freed_heap_pages():
    # 64 KiB blocks come from the heap (below malloc's mmap threshold). A 1 KiB block (malloc's
    # too: above Python's small-object limit) pinned after each one keeps every freed block a
    # hole between blocks in use: free() alone can return none of them, whatever the heap
    # held before, so the pages stay resident until trim_heap returns them.
    blocks, pins = [], []
    for _ in range(800):  # 50 MiB, every page touched
        blocks.append(bytes(64 * 1024))
        pins.append(bytes(1024))
    del blocks
    before = _rss_kib()
    assert trim_heap()
    assert before - _rss_kib() > 25 * 1024
    del pins
