"""The schema of ``eval/metrics.csv``, the table ``main.py evaluate`` writes into a run folder.

One row per (``global_id``, settings): the columns ``global_id, checkpoint``, every metric
column evaluated so far (the registry's order, :func:`gan.metrics.names.all_columns`; empty
where a metric was not asked for), then the settings (:func:`setting_columns`: the sample seed,
``metric_batch_size`` and every registered metric's own counts and settings). The command
(:mod:`gan.evaluate`) writes it through :class:`EvalCsv`; the report (:mod:`gan.report.runs`)
reads it knowing only this module.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from gan.errors import ConfigError
from gan.metrics import names
from gan.run_folder import atomic_path

#: The settings columns every row has, before the metrics' own keys.
FIXED_SETTINGS = ("sample_seed", "metric_batch_size")


def setting_columns() -> list[str]:
    """The settings columns: :data:`FIXED_SETTINGS`, then the registered metrics' keys."""
    return [*FIXED_SETTINGS, *names.setting_keys()]


def row_settings(config: Any, sample_seed: int) -> dict[str, str]:
    """The settings columns of a row for ``config`` (a run config), as strings ("" for None)."""
    values = {"sample_seed": sample_seed}
    for key in setting_columns():
        if key not in values:
            values[key] = getattr(config, key)
    return {k: "" if v is None else str(v) for k, v in values.items()}


class EvalCsv:
    """``eval/metrics.csv``: rows keyed by (global_id, settings), rewritten atomically."""

    def __init__(self, path: str):
        self.path = path
        self.known = names.all_columns()
        self.settings = setting_columns()
        self.rows: list[dict[str, str]] = []
        self.extra: list[str] = []
        if os.path.isfile(path):
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                fields = list(reader.fieldnames or [])
                missing = [c for c in ("global_id", *FIXED_SETTINGS) if c not in fields]
                if missing:
                    raise ConfigError(
                        f"{path}: not an evaluation table (no column "
                        f"{', '.join(missing)}); move it away"
                    )
                self.extra = [
                    c
                    for c in fields
                    if c not in self.known and c not in ("global_id", "checkpoint", *self.settings)
                ]
                self.rows = [dict(r) for r in reader]

    def _key(self, row: dict[str, Any]) -> tuple:
        return (int(row["global_id"]),) + tuple(str(row.get(k) or "") for k in self.settings)

    def find(self, global_id: int, settings: dict[str, str]) -> dict[str, str] | None:
        """The row of ``global_id`` evaluated with ``settings``, or None."""
        key = self._key({"global_id": global_id, **settings})
        return next((r for r in self.rows if self._key(r) == key), None)

    def done(self, global_id: int, settings: dict[str, str], columns: Sequence[str]) -> bool:
        """Whether a row with these settings holds every column of ``columns``."""
        row = self.find(global_id, settings)
        return row is not None and all(row.get(c, "") != "" for c in columns)

    def put(
        self, global_id: int, label: str, settings: dict[str, str], values: dict[str, float]
    ) -> None:
        """Fill (or add) the row of ``global_id`` and ``settings`` and rewrite the file."""
        row = self.find(global_id, settings)
        if row is None:
            row = {"global_id": str(global_id), **settings}
            self.rows.append(row)
        row["checkpoint"] = label
        for k, v in values.items():
            row[k] = f"{float(v):.12f}" if isinstance(v, (float, np.floating)) else str(v)
        self.rows.sort(key=lambda r: int(r["global_id"]))
        self._write()

    def fieldnames(self) -> list[str]:
        """The header: global_id, checkpoint, the metric columns any row fills, the settings."""
        used = {k for r in self.rows for k, v in r.items() if v not in ("", None)}
        metrics = [c for c in self.known if c in used] + [c for c in self.extra if c in used]
        return ["global_id", "checkpoint", *metrics, *self.settings]

    def _write(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with atomic_path(self.path, sync=True, sync_folder=False) as tmp:
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self.fieldnames(), extrasaction="ignore")
                writer.writeheader()
                writer.writerows(self.rows)
