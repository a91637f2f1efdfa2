"""Progress: the trainer's (:class:`TrainingProgress`, into log lines and ``status.json``) and
the console's of running runs, read from their ``status.json``, and where to look after.

The trainer writes each run's iteration, total, ``it_per_s``, ``eta_s`` and last losses into
its ``status.json`` (``gan.run_folder``) every few seconds; the scheduler polls the running
runs' folders with :class:`ConsoleProgress`, which renders one line per running run:

* on a terminal, the lines are redrawn in place (below the scheduler's log lines, which
  :meth:`ConsoleProgress.clear` makes room for);
* otherwise (a file, a CI log) a line per run is appended at most every ``every_s`` seconds
  and only when its iteration moved.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from absl import logging

from gan.run_folder import SAMPLE_DIR, RunStatus, read_status, update_status

TTY_REFRESH_S = 1.0
SHOWN_LOSSES = ("loss/d", "loss/g")  # in the trainer's progress lines and status.json
LOG_EVERY_S = 20.0
_GRID = re.compile(r"global_id-(\d+)\.png")


def format_duration(seconds: float) -> str:
    """``seconds`` as ``H:MM:SS`` (whole seconds)."""
    return str(datetime.timedelta(seconds=max(0, int(round(seconds)))))


def progress_line(name: str, status: RunStatus) -> str | None:
    """``name: iter 120/900 (13%)  2.31 it/s  ETA 0:05:37  loss/d=1.2345  loss/g=0.9876``,
    or None when the status holds no iteration yet."""
    if status.iteration is None or not status.total:
        return None
    parts = [
        f"{name}: iter {status.iteration}/{status.total} "
        f"({100 * status.iteration // status.total}%)"
    ]
    info: Mapping[str, Any] = status.progress or {}
    rate, eta = info.get("it_per_s"), info.get("eta_s")
    if isinstance(rate, (int, float)):
        parts.append(f"{rate:.2f} it/s")
    if isinstance(eta, (int, float)):
        parts.append(f"ETA {format_duration(eta)}")
    losses = info.get("losses") or {}
    parts += [f"{k}={v:.4f}" for k, v in losses.items() if isinstance(v, (int, float))]
    return "  ".join(parts)


class ConsoleProgress:
    """Renders the progress of running runs on ``console``, in place on a terminal.

    ``poll(runs)`` takes ``{name: run_dir}`` of the runs running now; calls more frequent than
    the refresh period do nothing. A caller that writes its own lines to ``console`` calls
    :meth:`clear` first (on a terminal it erases the progress block; the next poll redraws it).
    ``tty`` defaults to ``console.isatty()``.
    """

    def __init__(
        self,
        console: TextIO,
        tty: bool | None = None,
        every_s: float = LOG_EVERY_S,
        refresh_s: float = TTY_REFRESH_S,
        prefix: str = "",
        clock: Any = time.monotonic,
    ) -> None:
        self.console = console
        if tty is None:
            isatty = getattr(console, "isatty", None)
            tty = bool(isatty()) if callable(isatty) else False
        self.tty = tty
        self.every_s = every_s
        self.refresh_s = refresh_s
        self.prefix = prefix
        self.clock = clock
        self._shown = 0  # lines of the block drawn on the terminal
        self._last_poll: float | None = None
        self._printed: dict[str, tuple[float, int]] = {}  # name -> (time, iteration) logged

    def poll(self, runs: Mapping[str, str]) -> None:
        """Read the running runs' ``status.json`` and show their progress if it is time."""
        now = self.clock()
        period = self.refresh_s if self.tty else min(self.refresh_s, self.every_s)
        if self._last_poll is not None and now - self._last_poll < period:
            return
        self._last_poll = now
        lines = []
        for name, run_dir in runs.items():
            status = read_status(run_dir)
            line = None if status is None else progress_line(name, status)
            if line is not None:
                lines.append((name, status.iteration, line))
        if self.tty:
            self._draw([line for _, _, line in lines])
        else:
            self._append(lines, now)

    def _append(self, lines: Iterable[tuple[str, int | None, str]], now: float) -> None:
        for name, iteration, line in lines:
            last = self._printed.get(name)
            if last is not None and (now - last[0] < self.every_s or last[1] == iteration):
                continue
            self._printed[name] = (now, iteration or 0)
            self.console.write(f"{self.prefix}{line}\n")
        self.console.flush()

    def _draw(self, lines: Sequence[str]) -> None:
        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        self.clear(flush=False)
        # Lines never wrap, so the block is exactly len(lines) rows high for clear().
        self.console.write("\n".join((self.prefix + line)[:width] for line in lines))
        self._shown = len(lines)
        self.console.flush()

    def clear(self, flush: bool = True) -> None:
        """Erase the block drawn on a terminal (nothing to do otherwise)."""
        if not self.tty or not self._shown:
            return
        up = f"\x1b[{self._shown - 1}A" if self._shown > 1 else ""
        self.console.write(f"\r{up}\x1b[J")
        self._shown = 0
        if flush:
            self.console.flush()


def latest_sample_grid(run_dir: str) -> str | None:
    """The newest ``sample/global_id-N.png`` of a run (largest N), or None."""
    folder = os.path.join(run_dir, SAMPLE_DIR)
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    found = [(int(m.group(1)), n) for n in names if (m := _GRID.fullmatch(n))]
    return os.path.join(folder, max(found)[1]) if found else None


def where_to_look(runs: Iterable[tuple[str, str]], report_dir: str | None = None) -> str:
    """Closing lines for the console: each run's latest sample grid, then the report folder.

    ``runs`` are ``(name, run_dir)`` pairs.
    """
    lines = ["Latest sample grid of each run:"]
    for name, run_dir in runs:
        grid = latest_sample_grid(run_dir)
        lines.append(f"  {name}: {grid or '(no sample grid yet)'}")
    if report_dir is not None:
        lines.append(f"Report (tables, curves, failures): {report_dir}")
    return "\n".join(lines)


class TrainingProgress:
    """Reports iteration, speed, ETA and the last losses: a log line at most every ``every_s``
    seconds, and (with ``run_dir``) the ``iteration``/``total``/``progress`` fields of the
    run's ``status.json`` at most every ``status_every_s`` seconds, which the scheduler shows
    on the console. The speed leaves the first iteration (tracing) out."""

    def __init__(
        self,
        start: int,
        total: int,
        shown: Sequence[str] = SHOWN_LOSSES,
        every_s: float = 30.0,
        run_dir: str | None = None,
        status_every_s: float = 3.0,
    ):
        self.start, self.total, self.every_s = start, total, every_s
        self.shown = tuple(shown)
        self.run_dir, self.status_every_s = run_dir, status_every_s
        self.t0 = self.last = self.last_status = time.time()
        self.t1: float | None = None  # when the first iteration ended
        self.losses: dict[str, Any] = {}

    def update(self, global_id: int, stats: dict[str, Any]) -> None:
        now = time.time()
        done = global_id + 1 - self.start
        self.losses.update({k: stats[k] for k in self.shown if k in stats})
        if self.t1 is None:
            self.t1 = now
        final = global_id == self.total - 1
        log_due = now - self.last >= self.every_s or final or done == 1
        status_due = self.run_dir is not None and (
            now - self.last_status >= self.status_every_s or final or done == 1
        )
        if not (log_due or status_due):
            return
        if done > 1:
            rate = (done - 1) / max(now - self.t1, 1e-9)
        else:
            rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - global_id - 1) / max(rate, 1e-9)
        shown = {k: float(v) for k, v in self.losses.items()}
        if status_due:
            self.last_status = now
            try:
                update_status(
                    self.run_dir,
                    iteration=global_id + 1,
                    total=self.total,
                    progress={
                        "it_per_s": round(rate, 4),
                        "eta_s": round(eta, 1),
                        "losses": {k: round(v, 5) for k, v in shown.items()},
                    },
                )
            except OSError as exc:  # progress is informative only: never stop training
                logging.warning("could not write progress to status.json: %s", exc)
        if log_due:
            self.last = now
            logging.info(
                "iter %d/%d  %.2f it/s  ETA %s  %s",
                global_id + 1,
                self.total,
                rate,
                datetime.timedelta(seconds=int(eta)),
                "  ".join(f"{k}={v:.4f}" for k, v in shown.items()),
            )
