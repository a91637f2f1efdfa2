"""The report's figures (PNG, matplotlib's Agg canvas, no pyplot state).

Each metric against iteration (mean over a variant's runs, band min-max), the final main
metric against ``scale`` (SN vs BSN), per-layer sigmas with D's input-gradient norms, and the
learned gammas. A figure that cannot be drawn is listed with the reason instead.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import logging
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gan.report.records import RunRecord, Series
from gan.report.rules import fmt_value, variant_label
from gan.run_folder import atomic_path

_SIGMA_TAG = re.compile(r"^d/sigma(\d+)(?:_(\d+))?$")
# Learned gammas: d/gamma{i}; event files written before the rename call them d/scale{i}.
_GAMMA_TAG = re.compile(r"^d/(?:gamma|scale)(\d+)$")


def split_name(prefix: str, column: str, split: str | None) -> str:
    """``<prefix>-<column>[__<split>].png``, the file name of one figure per split."""
    return f"{prefix}-{slug(column)}" + (f"__{slug(split)}" if split else "") + ".png"


def slug(text: str) -> str:
    """``text`` as a file-name part (at most 120 characters; longer ones end in a hash)."""
    slug = re.sub(r"[^A-Za-z0-9._,+-]+", "_", text.replace("=", "-").replace(", ", ","))
    if len(slug) > 120:
        slug = slug[:100] + "-" + hashlib.sha1(text.encode()).hexdigest()[:10]
    return slug


def _aggregate(series: Sequence[Series]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, mean, min, max)`` over runs at the union of their steps (finite values)."""
    steps = np.unique(np.concatenate([s.steps for s in series]))
    matrix = np.full((len(series), steps.size), np.nan)
    for i, s in enumerate(series):
        matrix[i, np.searchsorted(steps, s.steps)] = s.values
    finite = np.isfinite(matrix)
    counts = finite.sum(axis=0)
    ok = counts > 0
    mean = np.where(finite, matrix, 0.0).sum(axis=0) / np.maximum(counts, 1)
    lo = np.where(finite, matrix, np.inf).min(axis=0)
    hi = np.where(finite, matrix, -np.inf).max(axis=0)
    return steps[ok], mean[ok], lo[ok], hi[ok]


def _new_figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (7.0, 4.5)) -> Any:
    fig = Figure(figsize=(size[0] * cols, size[1] * rows))
    FigureCanvasAgg(fig)
    return fig


def _save_figure(fig: Any, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")


def _plot_band(ax: Any, series: Sequence[Series], label: str, **kw: Any) -> bool:
    if not series:
        return False
    steps, mean, lo, hi = _aggregate(series)
    if steps.size == 0:
        return False
    marker = "o" if steps.size < 30 else None
    (line,) = ax.plot(steps, mean, label=label, marker=marker, markersize=3, **kw)
    if len(series) > 1:
        ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return True


def _legend(ax: Any, outside: bool = True) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if not handles:
        return
    if outside:
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.legend(fontsize="small", loc="best")


def _split_by(
    records: list[RunRecord], variants: list[tuple[str, ...]], shown: list[str]
) -> list[tuple[str, list[tuple[str, ...]]]]:
    """Variants split into figure files by dataset when the dataset varies."""
    if "dataset" not in shown or len(variants) <= 1:
        return [("", variants)]
    first = {v: next(r.run for r in records if r.variant == v) for v in variants}
    out: dict[str, list[tuple[str, ...]]] = {}
    for v in variants:
        out.setdefault(f"dataset={first[v].config.dataset}", []).append(v)
    return list(out.items())


class Figures:
    """Writes the report's PNGs and remembers what was written and what was skipped."""

    def __init__(
        self,
        folder: str,
        records: list[RunRecord],
        variants: list[tuple[str, ...]],
        shown: list[str],
        rows: list[dict[str, Any]],
        columns: list[str],
        main_metric: str | None,
    ):
        self.folder = folder
        self.records = records
        self.variants = variants
        self.shown = shown
        self.rows = rows
        self.columns = columns
        self.main_metric = main_metric
        self.written: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        self.labels = {
            v: variant_label(next(r.run for r in records if r.variant == v), shown)
            for v in variants
        }

    def draw(self) -> None:
        """Remove the folder's stale PNGs, then draw every figure; a figure that fails is
        logged and listed as not drawn (it must not cost the tables)."""
        if os.path.isdir(self.folder):
            for name in os.listdir(self.folder):
                if name.endswith(".png"):
                    os.remove(os.path.join(self.folder, name))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for make in (self.metric_curves, self.scaling, self.diagnostics, self.gammas):
                try:
                    make()
                except Exception as exc:
                    logging.warning(
                        "report: figure %s failed: %s: %s", make.__name__, type(exc).__name__, exc
                    )
                    self.skipped.append((make.__name__, f"failed: {type(exc).__name__}: {exc}"))

    def members(self, variant: tuple[str, ...]) -> list[RunRecord]:
        """The records of one variant's runs."""
        return [r for r in self.records if r.variant == variant]

    def save(self, fig: Any, name: str) -> None:
        """Save ``fig`` as ``name`` in the figures folder."""
        path = os.path.join(self.folder, name)
        _save_figure(fig, path)
        self.written.append(path)

    def finish(self, fig: Any, ax: Any, xlabel: str, ylabel: str, title: str, name: str) -> None:
        """Label, grid and legend ``ax``, then save ``fig`` as ``name``."""
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        _legend(ax)
        self.save(fig, name)

    def metric_curves(self) -> None:
        """Each metric against iteration, one figure per metric (and dataset)."""
        if not self.columns:
            self.skipped.append(("metric-*.png", "no metric data"))
        for column in self.columns:
            for split, variants in _split_by(self.records, self.variants, self.shown):
                fig = _new_figure()
                ax = fig.add_subplot()
                drawn = False
                for v in variants:
                    series = [r.metrics[column] for r in self.members(v) if column in r.metrics]
                    drawn |= _plot_band(ax, series, self.labels[v])
                name = split_name("metric", column, split)
                if not drawn:
                    self.skipped.append((name, f"no finite {column} values"))
                    continue
                self.finish(
                    fig,
                    ax,
                    "iteration (global_id)",
                    column,
                    f"{column}{' (' + split + ')' if split else ''}: mean over runs, band min–max",
                    name,
                )

    def scaling(self) -> None:
        """The final main metric against ``scale``, a line per other variant key."""
        column = self.main_metric
        if "scale" not in self.shown:
            self.skipped.append(("scaling-*.png", "scale is not a variant key"))
            return
        if column is None:
            self.skipped.append(("scaling-*.png", "no metric data"))
            return
        series_keys = [k for k in self.shown if k != "scale"]
        for split, variants in _split_by(self.records, self.variants, self.shown):
            lines: dict[str, list[tuple[float, float, float]]] = {}
            for v in variants:
                row = next(
                    r for r in self.rows if r["variant"] == self.labels[v] and r["metric"] == column
                )
                if not math.isfinite(row["final_mean"]):
                    continue
                run = self.members(v)[0].run
                label = ", ".join(
                    f"{k}={fmt_value(run.config.value(k))}"
                    for k in series_keys
                    if k != "dataset" or not split
                )
                lines.setdefault(label or "all runs", []).append(
                    (
                        float(run.config.scale),
                        row["final_mean"],
                        row["final_std"] if math.isfinite(row["final_std"]) else 0.0,
                    )
                )
            name = split_name("scaling", column, split)
            lines = {k: sorted(pts) for k, pts in lines.items() if len(pts) >= 2}
            if not lines:
                self.skipped.append((name, f"no variant has final {column} at two scales"))
                continue
            fig = _new_figure()
            ax = fig.add_subplot()
            for label, pts in lines.items():
                x, y, e = (np.array(a) for a in zip(*pts, strict=True))
                ax.errorbar(x, y, yerr=e, label=label, marker="o", capsize=3)
            self.finish(
                fig,
                ax,
                "scale",
                f"final {column}",
                f"final {column} vs scale{' (' + split + ')' if split else ''}: "
                "mean ± std over runs",
                name,
            )

    def diagnostics(self) -> None:
        """Per variant: per-layer sigmas and D's real/fake input-gradient norms."""
        for v in self.variants:
            members = self.members(v)
            name = f"diagnostics__{slug(self.labels[v])}.png"
            layers: dict[int, list[Series]] = {}
            for r in members:
                for tag, s in r.scalars.items():
                    m = _SIGMA_TAG.match(tag)
                    if m and (m.group(2) is None or m.group(2) == "0"):
                        layers.setdefault(int(m.group(1)), []).append(s)
            slopes = {
                kind: [
                    r.scalars[f"d/mean_{kind}_slopes"]
                    for r in members
                    if f"d/mean_{kind}_slopes" in r.scalars
                ]
                for kind in ("real", "fake")
            }
            panels = [p for p, ok in (("sigma", layers), ("slopes", any(slopes.values()))) if ok]
            if not panels:
                self.skipped.append((name, "no d/sigma* or d/mean_*_slopes scalars"))
                continue
            fig = _new_figure(1, len(panels))
            axes = fig.subplots(1, len(panels), squeeze=False)[0]
            for ax, panel in zip(axes, panels, strict=True):
                if panel == "sigma":
                    for i in sorted(layers):
                        _plot_band(ax, layers[i], f"layer {i}")
                    finite = np.concatenate(
                        [
                            s.values[np.isfinite(s.values)]
                            for group in layers.values()
                            for s in group
                        ]
                    )
                    if finite.size and finite.min() > 0 and finite.max() > 10 * finite.min():
                        ax.set_yscale("log")
                    ax.set_ylabel("sigma")
                    ax.set_title("per-layer spectral norms (BSN: mean of W and W^T)")
                else:
                    for kind in ("real", "fake"):
                        _plot_band(ax, slopes[kind], f"{kind}: mean ||grad_x D||")
                    ax.set_ylabel("input-gradient norm")
                    ax.set_title("D's input-gradient norms (band: min–max over runs)")
                ax.set_xlabel("iteration (global_id)")
                ax.grid(alpha=0.3)
                _legend(ax, outside=False)
            fig.suptitle(self.labels[v])
            self.save(fig, name)

    def gammas(self) -> None:
        """Per variant with learned gammas: each gamma against iteration."""
        any_gamma = False
        for v in self.variants:
            layers: dict[int, list[Series]] = {}
            for r in self.members(v):
                for tag, s in r.scalars.items():
                    m = _GAMMA_TAG.match(tag)
                    if m:
                        layers.setdefault(int(m.group(1)), []).append(s)
            if not layers:
                continue
            any_gamma = True
            fig = _new_figure()
            ax = fig.add_subplot()
            for i in sorted(layers):
                _plot_band(ax, layers[i], f"gamma {i}")
            self.finish(
                fig,
                ax,
                "iteration (global_id)",
                "learned gamma",
                f"{self.labels[v]}: learned gammas, mean over runs",
                f"gammas__{slug(self.labels[v])}.png",
            )
        if not any_gamma:
            self.skipped.append(("gammas__*.png", "no d/gamma* scalars (no learned gammas)"))
