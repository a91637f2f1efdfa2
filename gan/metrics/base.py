"""The metric-callback interface the trainer drives, and the CSV/TensorBoard writer.

A metric callback is built once per run, may keep state across a resume (e.g. the fixed FID
real subset) through ``state_arrays``/``load_state_arrays``, and returns named float values at
each metric step. The trainer writes them as one ``metrics.csv`` row (12 decimals, as the
original) and as ``metric/<name>`` TensorBoard scalars.
"""

from __future__ import annotations

import abc
import csv
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gan.atomic import atomic_path
from gan.errors import ConfigError


@dataclass
class MetricContext:
    """What a metric may use: the generator in inference mode and the run's data.

    ``sample(n)`` returns ``n`` generated images, float32 NHWC in [-1, 1] (inference-mode G,
    latents drawn from the run's own generator). ``real_images`` is the in-memory training
    array (uint8 NHWC) or None for streamed data, where ``sample_real(n)`` draws ``n`` real
    images as uint8 NHWC. ``rng`` is a NumPy generator seeded from the run's seed.
    """

    sample: Callable[[int], np.ndarray]
    sample_real: Callable[[int], np.ndarray]
    real_images: np.ndarray | None
    rng: np.random.Generator
    run_dir: str


class MetricCallback(abc.ABC):
    """One metric (or a family sharing work, like IS and FID on one Inception graph)."""

    @abc.abstractmethod
    def columns(self) -> list[str]:
        """The CSV column names this callback fills, in order."""

    def setup(self, context: MetricContext) -> None:
        """Prepare once per run (load networks, draw fixed real subsets)."""
        del context

    @abc.abstractmethod
    def evaluate(self, context: MetricContext, global_id: int) -> dict[str, float]:
        """Compute the values named by ``columns()`` at iteration ``global_id``."""

    def release(self) -> None:
        """Free, after an evaluation, what the next ``evaluate`` can rebuild (e.g. a network)."""
        return None

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Arrays to keep across a resume (saved beside the checkpoints)."""
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``state_arrays`` returned in an earlier process."""
        del arrays


class MetricsCsv:
    """Appends one row per metric step to ``metrics.csv`` with a fixed header."""

    def __init__(self, path: str, columns: list[str]):
        self.path = path
        self.fieldnames = ["global_id"] + list(columns)
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            with open(path, newline="") as f:
                first = f.readline()
            if not first.endswith(("\n", "\r")):
                return  # cut inside its header (a crash mid-write): dropped like a cut row
            header = next(csv.reader([first]), None)
            if header != self.fieldnames:
                raise ConfigError(
                    f"{path}: its columns {header} are not those of this run's metrics "
                    f"{self.fieldnames}: the metrics changed since the run started (see "
                    "config.json); restore the old metrics list, or start the new one in a new "
                    "results folder"
                )

    def append(self, global_id: int, values: dict[str, float]) -> None:
        """Write one row; floats with 12 decimals as the original did.

        A file that ends in a cut row or a cut header (a crash mid-write) is first cut back to
        its complete lines, so the new row never merges with a partial one (a file left without
        a header gets a new one).
        """
        if self._ends_cut():
            self.truncate_after(None)
        new = not os.path.isfile(self.path) or os.path.getsize(self.path) == 0
        row = {"global_id": global_id}
        for k in self.fieldnames[1:]:
            v = values.get(k)
            if isinstance(v, (float, np.floating)):
                v = f"{float(v):.12f}"
            row[k] = v
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fieldnames)
            if new:
                writer.writeheader()
            writer.writerow(row)
            f.flush()
            os.fsync(f.fileno())

    def _ends_cut(self) -> bool:
        """Whether the file is non-empty and its last line has no line end."""
        try:
            with open(self.path, "rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() == 0:
                    return False
                f.seek(-1, os.SEEK_END)
                return f.read(1) not in (b"\n", b"\r")
        except FileNotFoundError:
            return False

    def truncate_after(self, global_id: int | None) -> None:
        """Keep the header and the complete rows up to ``global_id`` (all complete rows for
        None): rows written after the checkpoint a resume starts from go, and so does a last
        row cut by a crash (no line end, or fewer fields than the header)."""
        if not os.path.isfile(self.path):
            return
        with open(self.path, newline="") as f:
            text = f.read()
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines.pop()  # cut mid-row
        rows = list(csv.reader(lines))
        if not rows:
            kept: list[list[str]] = []
        else:
            width = len(rows[0])
            kept = [rows[0]]
            for r in rows[1:]:
                if len(r) != width:
                    continue
                try:
                    n = int(r[0])
                except ValueError:
                    continue
                if global_id is None or n <= global_id:
                    kept.append(r)
        if len(kept) != len(rows) or len(lines) != len(text.splitlines(keepends=True)):
            with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
                csv.writer(f).writerows(kept)
