"""Console progress of running runs, read from their ``status.json``, and where to look after.

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

from gan.run_folder import SAMPLE_DIR, RunStatus, read_status

TTY_REFRESH_S = 1.0
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
    parts = [f"{name}: iter {status.iteration}/{status.total} "
             f"({100 * status.iteration // status.total}%)"]
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

    def __init__(self, console: TextIO, tty: bool | None = None, every_s: float = LOG_EVERY_S,
                 refresh_s: float = TTY_REFRESH_S, prefix: str = "",
                 clock: Any = time.monotonic) -> None:
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
