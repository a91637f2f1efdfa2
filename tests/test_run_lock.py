"""The run lock (``gan/run_folder.py``, next to ``LOCK_FILE``): the scheduler claims a run with
``take_lock``; the report, ``status`` and ``submit`` probe it with ``lock_held``."""

from __future__ import annotations

import fcntl
import os

from gan import run_folder as rf


def test_lock_probe_does_not_take_the_lock(tmp_path):
    (tmp_path / rf.LOCK_FILE).touch()
    assert not rf.lock_held(str(tmp_path))
    fd = os.open(str(tmp_path / rf.LOCK_FILE), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the probe released its shared lock
    assert rf.lock_held(str(tmp_path))
    os.close(fd)
    assert not rf.lock_held(str(tmp_path / "missing"))


def test_a_taken_lock_is_held_until_closed_and_refused_to_a_second_claimer(tmp_path):
    run_dir = str(tmp_path)
    fd = rf.take_lock(run_dir)
    assert fd is not None and os.path.isfile(os.path.join(run_dir, rf.LOCK_FILE))
    assert rf.lock_held(run_dir)
    assert rf.take_lock(run_dir) is None  # another open file description: refused
    os.close(fd)
    assert not rf.lock_held(run_dir)
    again = rf.take_lock(run_dir)
    assert again is not None
    os.close(again)


def test_the_cluster_and_the_scheduler_take_the_lock_functions_from_the_run_folder():
    from gan import scheduler
    from gan.cluster import commands

    assert commands.lock_held is rf.lock_held
    assert scheduler.take_lock is rf.take_lock
    assert not hasattr(commands, "run_command") and not hasattr(commands, "COMMANDS")
