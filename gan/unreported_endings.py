"""The endings a run process did not write itself, recorded in its ``status.json`` by the
scheduler once the process has exited.

A ``gan.run`` process writes how it ends (``gan/run.py``). When it dies without doing so
(killed, out of memory, a crash before Python could write, an unwritable folder), or when the
scheduler fails on a run, these functions make ``status.json`` say so; in a folder that has
become read-only they rewrite the status file in place.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gan.run_folder import (
    COMPLETED,
    CRASHED,
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    FAILED,
    INTERRUPTED,
    STATUS_FILE,
    RunStatus,
    one_line,
    read_status,
    update_status,
)

#: The status.json state a run process that exits with a code reports.
STATE_OF_EXIT = {0: COMPLETED, EXIT_INTERRUPTED: INTERRUPTED, EXIT_BAD_INPUT: FAILED}

#: Called with the error when no status file could be written (the scheduler logs it).
Unwritable = Callable[[OSError], None]


def record_unreported_end(
    run_dir: str, code: int, stopping: bool, unwritable: Unwritable
) -> RunStatus | None:
    """Make status.json agree with how the run process ended (exit ``code``, or ``-signal``);
    returns the status.

    A process that died without writing how it ended is recorded as crashed, also when the
    file still holds an earlier ending (e.g. "interrupted" from the last attempt). One that
    died of a SIGTERM/SIGINT while the scheduler was ``stopping`` (forwarded before the run
    could install its handler: nothing trained yet) is interrupted, with the iterations of its
    latest checkpoint.
    """
    status = read_status(run_dir)
    if status is None and code in (0, EXIT_INTERRUPTED):
        return None  # not a gan.run process (a test's command): nothing to correct
    expected = STATE_OF_EXIT.get(code, CRASHED)
    if code < 0 and stopping and -code in (signal.SIGTERM, signal.SIGINT):
        expected = INTERRUPTED
    if status is not None and status.state == expected:
        return status
    if status is not None and status.state == FAILED and code == EXIT_BAD_INPUT:
        return status
    ending: dict[str, Any] = {"exit_code": code} if code >= 0 else {"signal": -code}
    state = expected if expected in (FAILED, INTERRUPTED) else CRASHED
    if state == INTERRUPTED and status is not None and status.checkpoint is not None:
        ending["iteration"] = status.checkpoint
    return write_ending(run_dir, state, ending, status, unwritable)


def record_crash(run_dir: str, error: str, unwritable: Unwritable) -> None:
    """Record in the run's status.json (when there is one) that the scheduler failed on it."""
    if os.path.isfile(os.path.join(run_dir, STATUS_FILE)):
        write_ending(run_dir, CRASHED, {"error": one_line(error)}, read_status(run_dir), unwritable)


def write_ending(
    run_dir: str,
    state: str,
    ending: dict[str, Any],
    old: RunStatus | None,
    unwritable: Unwritable,
) -> RunStatus | None:
    """Write ``state`` with the ``ending`` fields (``exit_code``, ``signal``, ``error``,
    ``iteration``) over ``old``; the new status, or ``old`` when nothing could be written."""
    try:
        return update_status(run_dir, state, **ending)
    except OSError:
        pass
    # An unwritable folder: its status file may still be writable in place.
    new = replace(
        old or RunStatus(state=state), state=state, exit_code=None, signal=None, error=None
    )
    new = replace(new, **ending)
    try:
        write_status_in_place(run_dir, new)
        return new
    except OSError as exc:
        unwritable(exc)
        return old


def write_status_in_place(run_dir: str, status: RunStatus) -> None:
    """Overwrite an existing ``status.json`` without a temporary file (a read-only folder
    whose status file is still writable); OSError when that fails too."""
    with open(os.path.join(run_dir, STATUS_FILE), "r+") as f:
        f.truncate(0)
        json.dump(status.to_json(), f, sort_keys=True, indent=2)
        f.write("\n")
