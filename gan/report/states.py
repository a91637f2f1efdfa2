"""Run states: whether a run folder is completed, running, interrupted, failed or crashed.

The run-folder contract (:mod:`gan.run_folder`) decides, in this order:

1. ``COMPLETED`` exists: *completed*.
2. no folder, or a folder holding nothing but ``.lock`` (and the report's own files): *not
   started*.
3. another process holds ``.lock`` (the scheduler's claim; probed with a non-blocking shared
   ``flock``): *running*.
4. ``status.json`` (:class:`~gan.run_folder.RunStatus`, written by ``gan.run`` and, for a run
   that died without saying how, by the scheduler) gives the state; a crash's detail is its
   ``error``, ``exit_code`` and ``signal``. A status still saying *running* with no lock held
   is *running* when its process is alive on this host, else *crashed* (the process and the
   scheduler that would have recorded its end both died). An *interrupted* run whose folder
   cannot be written (a read-only mount) is *crashed*: no start can resume it there, and the
   scheduler that found so could not write that into its ``status.json``.
5. **Log path**, for run folders without a readable ``status.json``: folders written before it
   existed (finished sweeps must still report), and folders whose ``status.json`` is damaged
   (empty, cut, not JSON, not an object, a field of the wrong kind: a full disk, a hand edit),
   whose state is then unknown. The last ``worker.log`` session is *interrupted* when it ends
   with a run's stop line (a stop between iterations, during an evaluation or during
   start-up), else the run *crashed* and the detail is the log's last error line plus the
   scheduler log's "crashed on" verdict. A damaged ``status.json`` is named in the detail,
   with the latest checkpoint and the last iteration of ``metrics.csv``. Only this path reads
   log wording; a folder with a readable ``status.json`` never does.
"""

from __future__ import annotations

import glob
import os
import re
import socket
from collections.abc import Iterable, Sequence

from gan.report.records import COMPLETED, CRASHED, FAILED, INTERRUPTED, NOT_STARTED, RUNNING
from gan.run_folder import (
    CHECKPOINT_DIR,
    COMPLETED_FILE,
    LOCK_FILE,
    METRICS_FILE,
    STATUS_FILE,
    RunStatus,
    lock_held,
    read_status,
    status_problem,
)
from gan.tasks import Run

LOG_TAIL_BYTES = 64 * 1024

# Log path only (folders without a readable status.json): the wording of the lines a run that
# stopped on request prints last (gan/trainer.py between iterations and during an evaluation,
# gan/run.py during start-up) and of the scheduler's log lines.
STOP_MARK = re.compile(
    r"stop requested(: saved checkpoint| during the evaluation of iteration \d+: saved)"
    r"|signal \d+ during start-up: stopping before training"
)
_SESSION_MARK = re.compile(r"^===== .* scheduler (starts|resumes) this run")
# Python exceptions, gan.run's "error:" lines, absl/TF fatal (F) lines, the kernel's words.
_ERROR_LINE = re.compile(
    r"(\b[A-Za-z_.]*(Error|Exception)\b|^error:|\bKilled\b|\bFATAL\b|"
    r"^F\d{4} |Segmentation fault|core dumped|Aborted|out of memory)"
)
_SCHEDULER_CRASH = re.compile(
    r"\bcrashed on (?P<run>.+?) (?:with (?P<why>.+?); see |"
    r"in the scheduler: (?P<exc>.*))"
)


def process_alive(status: RunStatus) -> bool:
    """Whether the process that wrote ``status`` still runs (known only on its own host)."""
    if not status.pid or status.host != socket.gethostname():
        return False
    try:
        os.kill(status.pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):  # gone, or no such pid at all
        return False
    except PermissionError:  # another user's process
        return True
    return True


def ending_detail(status: RunStatus) -> str:
    """A failed or crashed run's detail from ``status.json``: its error, exit code, signal."""
    how = []
    if status.exit_code is not None:
        how.append(f"exit code {status.exit_code}")
    if status.signal is not None:
        how.append(f"killed by signal {status.signal}")
    if status.iteration is not None and status.total:
        how.append(f"at iteration {status.iteration} of {status.total}")
    text = status.error or f"{STATUS_FILE} gives no error message"
    return f"{text} ({', '.join(how)})" if how else text


def status_state(status: RunStatus) -> tuple[str, str | None]:
    """``(state, detail)`` of a run folder whose ``status.json`` says ``status`` and whose
    ``.lock`` no process holds."""
    if status.state == COMPLETED:
        return COMPLETED, None
    if status.state == INTERRUPTED:
        return INTERRUPTED, None
    if status.state in (FAILED, CRASHED):
        return status.state, ending_detail(status)
    if process_alive(status):  # started without the scheduler (no lock)
        return RUNNING, None
    where = f"pid {status.pid} on {status.host}" if status.pid else "its process"
    return CRASHED, (
        f"{STATUS_FILE} still says running, but {where} is gone and no process "
        f"holds {LOCK_FILE} (killed together with the scheduler?)"
    )


def run_folder_state(
    run: Run, log_file: str | None, ignore: Iterable[str] = (), verdict: str | None = None
) -> tuple[str, str | None]:
    """``(state, detail)`` of a run folder (see the module docstring for the rules).

    ``log_file`` (the worker log's name) and ``verdict`` (the scheduler log's word on the run,
    :func:`scheduler_verdicts`) are read only on the log path, for a folder without a readable
    ``status.json``.
    """
    if os.path.exists(os.path.join(run.run_dir, COMPLETED_FILE)):
        return COMPLETED, None
    if not os.path.isdir(run.run_dir):
        return NOT_STARTED, None
    if lock_held(run.run_dir):
        return RUNNING, None
    skip = {LOCK_FILE, *ignore}
    try:
        names = [n for n in os.listdir(run.run_dir) if n not in skip]
    except OSError:
        names = []
    if not names:
        return NOT_STARTED, None
    status = read_status(run.run_dir)
    if status is not None:
        state, detail = status_state(status)
        if state == INTERRUPTED and not os.access(run.run_dir, os.W_OK):
            # A read-only folder: no start can resume it, nor record why it could not.
            return CRASHED, (
                f"{run.run_dir} cannot be written (a read-only file system?): "
                f"its {STATUS_FILE} still says interrupted, but no start can "
                "resume the run there"
            )
        return state, detail
    state, detail = legacy_log_state(run.run_dir, log_file, verdict)
    problem = status_problem(run.run_dir)
    if problem is None:
        return state, detail
    # A damaged status.json (a full disk, a hand edit) says nothing: the log, the checkpoints
    # and metrics.csv tell what is known.
    notes = [f"{problem}: state from the other files", *other_evidence(run.run_dir)]
    return state, "; ".join(notes + ([detail] if detail else []))


def other_evidence(run_dir: str) -> list[str]:
    """What a run folder shows besides ``status.json``: its latest checkpoint and the last
    iteration of ``metrics.csv`` (for a run whose status file cannot be read)."""
    out = []
    found = glob.glob(os.path.join(glob.escape(run_dir), CHECKPOINT_DIR, "model-*.index"))
    numbers = sorted(int(n) for n in (re.sub(r"\D", "", os.path.basename(f)) for f in found) if n)
    out.append(f"latest checkpoint model-{numbers[-1]}" if numbers else "no checkpoint")
    rows = _read_tail(os.path.join(run_dir, METRICS_FILE), 4096)
    last = rows[-1].split(",")[0] if rows else ""
    if last.isdigit():
        out.append(f"{METRICS_FILE} up to iteration {last}")
    return out


# ---------------------------------------------------------------------------------------------
# log path: run folders without a readable status.json (older folders, damaged files)


def legacy_log_state(
    run_dir: str, log_file: str | None, verdict: str | None
) -> tuple[str, str | None]:
    """``(state, detail)`` of an unfinished, unlocked run folder without a readable
    ``status.json``, from the wording of its worker log and the scheduler's verdict."""
    lines = None if log_file is None else _log_tail_session(os.path.join(run_dir, log_file))
    if lines is not None:
        after_stop = None
        for i, line in enumerate(lines):
            if STOP_MARK.search(line):
                after_stop = lines[i + 1 :]
        if after_stop is not None and not any("Traceback" in line for line in after_stop):
            return INTERRUPTED, None
    if log_file is None:
        detail = "no worker log configured"
    elif lines is None:
        detail = f"no {log_file}"
    else:
        detail = last_error_line(lines)
        if detail is None:
            last = [line.strip() for line in lines if line.strip()]
            detail = (
                f"no error in {log_file}; its last line: {last[-1][:200]}"
                if last
                else f"{log_file}: no output in its last session"
            )
    if verdict:
        detail += f" (scheduler: {verdict})"
    return CRASHED, detail


def _read_tail(path: str, size: int) -> list[str] | None:
    """The lines of the last ``size`` bytes of a text file (None when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            total = f.tell()
            f.seek(max(0, total - size))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    lines = text.splitlines()
    return lines[1:] if total > size else lines  # a first line cut in the middle is dropped


def _log_tail_session(path: str) -> list[str] | None:
    """The lines of ``worker.log``'s last session (after the scheduler's last start header)."""
    lines = _read_tail(path, LOG_TAIL_BYTES)
    if lines is None:
        return None
    for i in range(len(lines) - 1, -1, -1):
        if _SESSION_MARK.match(lines[i]):
            return lines[i + 1 :]
    return lines


def last_error_line(lines: Sequence[str]) -> str | None:
    """Legacy: the last line of a log that looks like an error (an exception, ``error:``,
    absl E/F, Killed, ...), else None."""
    for line in reversed(lines):
        line = line.strip()
        if line and _ERROR_LINE.search(line) and not line.startswith("Traceback"):
            return line[:300]
    return None


def scheduler_verdicts(path: str | None) -> dict[str, str]:
    """Legacy: ``{run folder name: why}`` of the scheduler log's last "crashed on" line per
    run (used only for run folders without ``status.json``)."""
    if path is None:
        return {}
    lines = _read_tail(path, 4 * LOG_TAIL_BYTES)
    out = {}
    for line in lines or []:
        m = _SCHEDULER_CRASH.search(line)
        if m:
            out[m.group("run")] = m.group("why") or f"in the scheduler: {m.group('exc')}"
    return out
