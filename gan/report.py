"""Report of a task's runs: the paper's tables, curves and a failure summary.

``python main.py report <task>`` (or :func:`write_report`) reads every run folder of a task:
``metrics.csv``, the TensorBoard event files in ``checkpoint/``, the ``COMPLETED`` marker, the
``.lock`` the scheduler holds while a run runs, and ``worker.log``. It writes
``<results root>/report/``:

* ``report.md``: the rules below, one table per metric (mean and std over runs of the final
  and of the best value, per variant), the run states, failures and data problems, figures;
* ``summary.csv``: the same tables as one CSV (every varying config key is a column);
* ``failures.csv``: one row per problem of a run (diverged, crashed, interrupted, running, not
  started, data);
* ``figures/*.png``: each metric against iteration, the final main metric against ``scale``
  (SN vs BSN), per-layer sigmas and real/fake gradient norms, learned gammas.

Rules:

* A *variant* is the set of runs with equal values of every config key that varies over the
  task's runs, except the replicate keys ``run`` and ``seed``.
* *final*: each run's last ``metrics.csv`` row (its own last iteration: runs of different
  lengths contribute their own last row). *best*: the maximum over the run's rows for
  higher-is-better columns, the minimum for distances (see :func:`metric_direction`); a
  ``<x>_std`` column next to ``<x>_mean`` takes its value at the row where ``<x>_mean`` is best.
* mean and std are over the runs whose value is finite; std is the population std
  (``ddof=0``, so one run gives 0) unless ``ddof`` says otherwise; with ``ddof >= n`` it is
  NaN (an empty cell).
* A run *diverged* when a metric turns NaN/inf after a finite value (or is ever inf), when a
  ``loss/*`` scalar is ever NaN/inf, or when an FID-like column ends above
  ``fid_ratio * best`` and above ``best + fid_margin`` (2 and 50 by default).
* A run folder without ``COMPLETED`` is *running* while another process holds its ``.lock``
  (tested with a non-blocking shared ``flock``), *interrupted* when its last ``worker.log``
  session ends with the trainer's "stop requested" checkpoint, else *crashed*; a task run
  without a folder (or with only ``.lock`` in it) is *not started*.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import glob
import hashlib
import io
import json
import math
import os
import re
import struct
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from absl import logging

from gan.run_folder import COMPLETED_FILE, LOCK_FILE, METRICS_FILE
from gan.scheduler import Run, Task, load_task

REPORT_DIR = "report"
FIGURES_DIR = "figures"
CACHE_DIR = "cache"
EVENTS_GLOB = os.path.join("checkpoint", "events.out.tfevents.*")
REPORT_MD = "report.md"
SUMMARY_CSV = "summary.csv"
FAILURES_CSV = "failures.csv"
CACHE_VERSION = 1

REPLICATE_KEYS = ("run", "seed")
# Preferred order of variant keys; the others follow in config order.
KEY_ORDER = ("dataset", "network", "loss", "gamma", "sn_mode", "scale", "n_dis", "g_lr", "d_lr",
             "g_beta1", "d_beta1", "g_beta2", "d_beta2")

HIGHER = "max"
LOWER = "min"
COMPANION = "at_best"
UNRANKED = ""
# Name tokens (split on non-alphanumerics) that decide a column's direction; LOWER wins.
LOWER_TOKENS = frozenset({"fid", "kid", "swd", "fd", "mmd", "distance", "wasserstein", "loss",
                          "error", "err"})
HIGHER_TOKENS = frozenset({"is", "inception", "precision", "recall", "accuracy", "acc",
                           "density", "coverage"})

# Run states and failure kinds, in report order.
COMPLETED = "completed"
RUNNING = "running"
CRASHED = "crashed"
INTERRUPTED = "interrupted"
NOT_STARTED = "not started"
DIVERGED = "diverged"
DATA = "data"
STATES = (COMPLETED, RUNNING, CRASHED, INTERRUPTED, NOT_STARTED)
FAILURE_KINDS = (DIVERGED, CRASHED, INTERRUPTED, RUNNING, NOT_STARTED, DATA)

STOP_MARK = "stop requested: saved checkpoint"
_SESSION_MARK = re.compile(r"^===== .* scheduler (starts|resumes) this run")
# Python exceptions, gan.run's "error:" lines, absl/TF fatal (F) lines, the kernel's words.
_ERROR_LINE = re.compile(r"(\b[A-Za-z_.]*(Error|Exception)\b|^error:|\bKilled\b|\bFATAL\b|"
                         r"^F\d{4} |Segmentation fault|core dumped|Aborted|out of memory)")
_SCHEDULER_CRASH = re.compile(r"\bcrashed on (?P<run>.+?) (?:with (?P<why>.+?); see |"
                              r"in the scheduler: (?P<exc>.*))")
_SIGMA_TAG = re.compile(r"^d/sigma(\d+)(?:_(\d+))?$")
_GAMMA_TAG = re.compile(r"^d/scale(\d+)$")
LOG_TAIL_BYTES = 64 * 1024
PARALLEL_EVENT_BYTES = 64 * 2**20

SUMMARY_FIELDS = ("variant", "metric", "direction", "runs", "completed", "with_data", "final_n",
                  "final_mean", "final_std", "best_n", "best_mean", "best_std",
                  "final_iter_min", "final_iter_max")
FAILURE_FIELDS = ("variant", "run", "folder", "kind", "iteration", "detail")


@dataclass
class ReportOptions:
    """Thresholds and conventions of a report (command-line flags ``--report_*``)."""

    fid_ratio: float = 2.0
    fid_margin: float = 50.0
    ddof: int = 0
    max_points: int = 2000
    workers: int = 0
    higher_is_better: tuple[str, ...] = ()
    lower_is_better: tuple[str, ...] = ()
    cache: bool = True


@dataclass
class Series:
    """Values of one column or scalar tag by iteration (``global_id``), steps ascending."""

    steps: np.ndarray
    values: np.ndarray

    @classmethod
    def from_pairs(cls, pairs: dict[int, float]) -> Series:
        """A series from ``{step: value}``."""
        steps = np.array(sorted(pairs), dtype=np.int64)
        return cls(steps, np.array([pairs[s] for s in steps], dtype=np.float64))


@dataclass
class Failure:
    """One problem of one run, a row of ``failures.csv``."""

    variant: str
    run: Any
    folder: str
    kind: str
    detail: str
    iteration: int | None = None


@dataclass
class RunRecord:
    """What the report read from one run folder."""

    run: Run
    variant: tuple[str, ...]
    state: str
    label: str = ""
    metrics: dict[str, Series] = field(default_factory=dict)
    metric_source: str | None = None
    scalars: dict[str, Series] = field(default_factory=dict)
    scalar_first_bad: dict[str, int] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)
    error_line: str | None = None


@dataclass
class ReportSummary:
    """Where a report was written and its headline numbers."""

    task_name: str
    report_dir: str
    markdown_path: str
    summary_csv_path: str
    failures_csv_path: str
    figures: list[str]
    skipped_figures: list[tuple[str, str]]
    main_metric: str | None
    main_table: str
    state_counts: dict[str, int]
    failure_counts: dict[str, int]
    rows: list[dict[str, Any]]
    failures: list[Failure]


# ---------------------------------------------------------------------------------------------
# reading one run


def read_metrics_csv(path: str) -> tuple[dict[str, Series], list[str]]:
    """Parse a ``metrics.csv``; returns ``{column: Series}`` and the problems found.

    Never raises on bad content: a truncated last line (no line end) and malformed rows are
    dropped and reported, empty cells are skipped, a repeated ``global_id`` keeps its last row.
    A missing file gives ``({}, ["metrics.csv missing"])``.
    """
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}, [f"{name} missing"]
    except OSError as exc:
        return {}, [f"{name} unreadable: {exc}"]
    text = data.decode("utf-8", errors="replace")
    if not text.strip():
        return {}, [f"{name} is empty"]
    lines = text.splitlines()
    issues = []
    if not text.endswith(("\n", "\r")):
        if len(lines) == 1:
            return {}, [f"{name} has only a partial header"]
        issues.append(f"{name}: last line truncated (dropped): {lines[-1][:80]!r}")
        lines = lines[:-1]
    header = next(csv.reader([lines[0]]), [])
    if not header or header[0] != "global_id" or len(header) < 2:
        return {}, [f"{name}: unexpected header {lines[0][:120]!r}"]
    columns = header[1:]
    rows: dict[int, list[str]] = {}
    bad = 0
    for row in csv.reader(lines[1:]):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            bad += 1
            continue
        try:
            step = int(row[0])
            for cell in row[1:]:
                if cell.strip():
                    float(cell)
        except ValueError:
            bad += 1
            continue
        rows[step] = row[1:]
    if bad:
        issues.append(f"{name}: {bad} malformed row{'s' if bad > 1 else ''} dropped")
    if not rows:
        issues.append(f"{name} has no data rows")
        return {}, issues
    out = {}
    for i, column in enumerate(columns):
        pairs = {step: float(cells[i]) for step, cells in rows.items() if cells[i].strip()}
        if pairs:
            out[column] = Series.from_pairs(pairs)
    return out, issues


_FLOAT32 = struct.Struct("<f")
_RECORD_HEADER = struct.Struct("<QI")
MAX_RECORD_BYTES = 1 << 28
_DT_FLOAT, _DT_DOUBLE = 1, 2


def _scalar_value(value: Any) -> float | None:
    """The number of a ``Summary.Value`` (simple_value or a one-element numeric tensor)."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind != "tensor":
        return None
    t = value.tensor
    if t.dtype == _DT_FLOAT and len(t.tensor_content) == 4:  # what tf.summary.scalar writes
        return _FLOAT32.unpack(t.tensor_content)[0]
    if any(d.size != 1 for d in t.tensor_shape.dim):
        return None
    if t.dtype in (_DT_FLOAT, _DT_DOUBLE) and not t.tensor_content:
        vals = t.float_val if t.dtype == _DT_FLOAT else t.double_val
        return float(vals[0]) if len(vals) == 1 else None
    from tensorboard.util import tensor_util

    try:
        arr = tensor_util.make_ndarray(t)
    except Exception:  # an unknown dtype: not a scalar we can use
        return None
    if arr.size != 1 or arr.dtype.kind not in "fiub":
        return None
    return float(arr.reshape(-1)[0])


@dataclass
class _FileScalars:
    name: str
    first_wall: float
    min_step: int | None
    values: dict[str, dict[int, float]]
    first_bad: dict[str, int]
    error: str | None


class CorruptEventFile(ValueError):
    """An event file whose records cannot be read (not a TFRecord file, or damaged)."""


def event_records(path: str) -> Iterator[bytes]:
    """The serialized records of a TFRecord file (an event file), read without TensorFlow.

    Each record is ``uint64 length, uint32 masked crc32c(length), data, uint32 crc(data)``.
    The first header's CRC is checked (a file that is not TFRecord fails there); later records
    get a length bound only (a pure-Python CRC of every record would dominate the time). A
    record cut by the end of the file (a writer still running, a crash) ends the iteration
    quietly, as TensorFlow's reader does.
    """
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    with open(path, "rb") as f:
        first = True
        while True:
            header = f.read(12)
            if len(header) < 12:
                return
            length, crc = _RECORD_HEADER.unpack(header)
            if first and masked_crc32c(header[:8]) != crc:
                raise CorruptEventFile(f"{path}: not a TFRecord file (bad header checksum)")
            if length > MAX_RECORD_BYTES:
                raise CorruptEventFile(f"{path}: record of {length} bytes")
            first = False
            data = f.read(length + 4)
            if len(data) < length + 4:
                return
            yield data[:length]


def _read_event_file(path: str, keep_every: int) -> _FileScalars:
    from tensorboard.compat.proto import event_pb2

    values: dict[str, dict[int, float]] = {}
    last_step: dict[str, int] = {}
    last_value: dict[str, float] = {}
    first_bad: dict[str, int] = {}
    is_metric: dict[str, bool] = {}
    first_wall = math.inf
    min_step: int | None = None
    error = None
    count = 0
    inf = math.inf
    parse = event_pb2.Event.FromString
    try:
        # The hot loop of a report: tens of millions of values for a long run.
        for record in event_records(path):
            event = parse(record)
            count += 1
            if event.wall_time < first_wall:
                first_wall = event.wall_time
            if event.WhichOneof("what") != "summary":
                continue
            step = event.step
            keep = (step + 1) % keep_every == 0
            for v in event.summary.value:
                x = _scalar_value(v)
                if x is None:
                    continue
                tag = v.tag
                if min_step is None or step < min_step:
                    min_step = step
                if not -inf < x < inf and step < first_bad.get(tag, step + 1):
                    first_bad[tag] = step
                metric = is_metric.get(tag)
                if metric is None:
                    metric = is_metric[tag] = tag.startswith("metric/")
                if keep or metric:
                    pairs = values.get(tag)
                    if pairs is None:
                        pairs = values[tag] = {}
                    pairs[step] = x
                last_step[tag] = step
                last_value[tag] = x
    except Exception as exc:  # corrupt record: keep what was read
        error = (f"{os.path.basename(path)}: unreadable after {count} events "
                 f"({type(exc).__name__})")
    for tag, step in last_step.items():
        values.setdefault(tag, {})[step] = last_value[tag]
    return _FileScalars(os.path.basename(path), first_wall, min_step, values, first_bad, error)


def read_event_scalars(paths: Sequence[str], keep_every: int = 1
                       ) -> tuple[dict[str, Series], dict[str, int], list[str]]:
    """Scalars of a run's event files: ``({tag: Series}, {tag: first non-finite step}, issues)``.

    Files are merged in the order they were started; a later file (a resumed run) replaces
    everything the earlier ones logged at or after its first step. Tags other than
    ``metric/*`` keep the steps ``s`` with ``(s + 1) % keep_every == 0`` and each file's last
    value; non-finite values are found on every step.
    """
    files = [_read_event_file(p, keep_every) for p in paths]
    files.sort(key=lambda f: (f.first_wall, f.name))
    merged: dict[str, dict[int, float]] = {}
    bad: dict[str, int] = {}
    issues = [f.error for f in files if f.error]
    for f in files:
        if f.min_step is not None:
            s0 = f.min_step
            for tag, pairs in merged.items():
                if pairs and max(pairs) >= s0:
                    merged[tag] = {s: x for s, x in pairs.items() if s < s0}
            bad = {tag: s for tag, s in bad.items() if s < s0}
        for tag, pairs in f.values.items():
            merged.setdefault(tag, {}).update(pairs)
        for tag, s in f.first_bad.items():
            bad[tag] = min(bad.get(tag, s), s)
    series = {tag: Series.from_pairs(pairs) for tag, pairs in merged.items() if pairs}
    return series, bad, issues


def _keep_every(config: dict[str, Any], max_points: int) -> int:
    freq = max(1, int(config.get("summary_freq") or 1))
    count = max(1, int(config.get("iteration") or 1) // freq)
    return freq * max(1, math.ceil(count / max(1, max_points)))


@dataclass
class _EventFiles:
    """A run's event files, the cache key they give and the cache file (None: no cache)."""

    paths: list[str]
    key: dict[str, Any]
    cache_path: str | None

    def load(self) -> tuple[dict[str, Series], dict[str, int], list[str]] | None:
        """The cached result when it matches these files, else None."""
        if self.cache_path is None:
            return None
        try:
            with open(self.cache_path) as f:
                cached = json.load(f)
            if cached.get("key") != self.key:
                return None
            series = {t: Series(np.array(s, dtype=np.int64), np.array(v, dtype=np.float64))
                      for t, (s, v) in cached["scalars"].items()}
            return series, dict(cached["first_bad"]), list(cached["issues"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def read(self) -> tuple[dict[str, Series], dict[str, int], list[str]]:
        """Parse the files and write the cache."""
        series, bad, issues = read_event_scalars(self.paths, self.key["keep_every"])
        if self.cache_path is not None:
            blob = {"key": self.key, "first_bad": bad, "issues": issues,
                    "scalars": {t: [s.steps.tolist(), s.values.tolist()]
                                for t, s in series.items()}}
            try:
                os.makedirs(os.path.dirname(self.cache_path), exist_ok=True)
                _write_text_atomic(self.cache_path, json.dumps(blob))
            except OSError as exc:
                logging.warning("report: cannot write the event cache %s: %s",
                                self.cache_path, exc)
        return series, bad, issues


def _event_files(run: Run, cache_dir: str | None, keep_every: int) -> _EventFiles:
    paths = sorted(glob.glob(os.path.join(glob.escape(run.run_dir), EVENTS_GLOB)))
    signature = []
    for p in paths:
        st = os.stat(p)
        signature.append([os.path.basename(p), st.st_size, st.st_mtime_ns])
    key = {"version": CACHE_VERSION, "keep_every": keep_every, "files": signature}
    cache_path = None
    if cache_dir is not None:
        digest = hashlib.sha1(run.run_dir.encode()).hexdigest()[:20]
        cache_path = os.path.join(cache_dir, f"events-{digest}.json")
    return _EventFiles(paths, key, cache_path)


def _cached_event_scalars(run: Run, cache_dir: str | None, keep_every: int
                          ) -> tuple[dict[str, Series], dict[str, int], list[str], bool]:
    """``read_event_scalars`` of a run through a JSON cache keyed by the files' sizes and
    mtimes; the last item says whether the run has event files."""
    files = _event_files(run, cache_dir, keep_every)
    if not files.paths:
        return {}, {}, [], False
    return (*(files.load() or files.read()), True)


def _parse_into_cache(files: _EventFiles) -> None:
    files.read()


def warm_event_cache(runs: Sequence[Run], cache_dir: str, options: ReportOptions) -> int:
    """Parse the uncached event files of ``runs`` in parallel processes into the cache.

    Uses ``options.workers`` processes (0: up to 8, one per CPU, when the uncached files
    total more than 64 MiB); returns the number of runs parsed here (0 when it left the
    parsing to the caller).
    """
    jobs = []
    total = 0
    for run in runs:
        files = _event_files(run, cache_dir, _keep_every(run.config, options.max_points))
        if files.paths and files.load() is None:
            jobs.append(files)
            total += sum(size for _, size, _ in files.key["files"])
    workers = options.workers
    if workers == 0:
        workers = min(8, os.cpu_count() or 1) if total > PARALLEL_EVENT_BYTES else 1
    workers = min(workers, len(jobs))
    if workers <= 1:
        return 0
    import concurrent.futures
    import multiprocessing

    logging.info("report: parsing the event files of %d runs (%.0f MiB) in %d processes",
                 len(jobs), total / 2**20, workers)
    # spawn: the parent may hold TensorFlow's threads, which fork does not copy safely
    with concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_parse_into_cache, files): files for files in jobs}
        for future in concurrent.futures.as_completed(futures):
            try:
                future.result()
            except Exception as exc:  # the run is read again (and reported) in the main pass
                logging.warning("report: parsing %s failed: %s: %s",
                                os.path.dirname(futures[future].paths[0]),
                                type(exc).__name__, exc)
    return len(jobs)


def lock_held(run_dir: str) -> bool:
    """True when another process holds ``<run_dir>/.lock`` (the scheduler's claim of a run).

    Tries a non-blocking shared ``flock`` and releases it at once; a missing lock file means
    no claim.
    """
    try:
        fd = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


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
            return lines[i + 1:]
    return lines


def last_error_line(lines: Sequence[str]) -> str | None:
    """The last line of a log that looks like an error (an exception, ``error:``, absl E/F,
    Killed, ...), else None."""
    for line in reversed(lines):
        line = line.strip()
        if line and _ERROR_LINE.search(line) and not line.startswith("Traceback"):
            return line[:300]
    return None


def scheduler_verdicts(path: str | None) -> dict[str, str]:
    """``{run folder name: why}`` of the scheduler log's last "crashed on" line per run."""
    if path is None:
        return {}
    lines = _read_tail(path, 4 * LOG_TAIL_BYTES)
    out = {}
    for line in lines or []:
        m = _SCHEDULER_CRASH.search(line)
        if m:
            out[m.group("run")] = m.group("why") or f"in the scheduler: {m.group('exc')}"
    return out


def run_folder_state(run: Run, log_file: str | None, ignore: Iterable[str] = (),
                     verdict: str | None = None) -> tuple[str, str | None]:
    """``(state, detail)`` of a run folder (states: see the module docstring); for a crashed
    run the detail is worker.log's last error line (else its last line) and the scheduler's
    ``verdict`` (exit code or signal) when it logged one."""
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
    lines = None if log_file is None else _log_tail_session(os.path.join(run.run_dir, log_file))
    if lines is not None:
        after_stop = None
        for i, line in enumerate(lines):
            if STOP_MARK in line:
                after_stop = lines[i + 1:]
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
            detail = (f"no error in {log_file}; its last line: {last[-1][:200]}" if last
                      else f"{log_file}: no output in its last session")
    if verdict:
        detail += f" (scheduler: {verdict})"
    return CRASHED, detail


def inspect_run(run: Run, variant: tuple[str, ...], task: Task, options: ReportOptions,
                cache_dir: str | None = None, verdict: str | None = None) -> RunRecord:
    """Read one run folder: state, metrics (``metrics.csv``, else ``metric/*`` scalars),
    event scalars and the problems found; never raises on bad content."""
    ignore = [REPORT_DIR]
    if task.scheduler_config.get("scheduler_log_file_path"):
        ignore.append(os.path.basename(task.scheduler_config["scheduler_log_file_path"]))
    state, error = run_folder_state(run, task.scheduler_config.get("log_file"), ignore,
                                    verdict)
    record = RunRecord(run, variant, state, error_line=error)
    if state == NOT_STARTED:
        return record
    quiet = state == RUNNING  # a running run may not have written anything yet
    expects_metrics = bool(run.config.get("metrics"))
    metrics, issues = read_metrics_csv(os.path.join(run.run_dir, METRICS_FILE))
    missing = not os.path.isfile(os.path.join(run.run_dir, METRICS_FILE))
    if metrics:
        record.metric_source = METRICS_FILE
    if metrics or (expects_metrics and not (quiet and missing)):
        record.issues.extend(issues)

    keep_every = _keep_every(run.config, options.max_points)
    try:
        scalars, first_bad, ev_issues, found = _cached_event_scalars(run, cache_dir, keep_every)
    except Exception as exc:  # an unexpected reader failure must not stop the report
        scalars, first_bad, found = {}, {}, True
        ev_issues = [f"event files unreadable: {type(exc).__name__}: {exc}"]
    record.scalars, record.scalar_first_bad = scalars, first_bad
    record.issues.extend(ev_issues)
    if not found and not quiet:
        record.issues.append("no event files (checkpoint/events.out.tfevents.*)")
    if not metrics:
        from_events = {tag[len("metric/"):]: s for tag, s in scalars.items()
                       if tag.startswith("metric/")}
        if from_events:
            record.metrics = from_events
            record.metric_source = "events"
            record.issues.append("metrics taken from the metric/* event scalars")
    else:
        record.metrics = metrics
    for column, s in record.metrics.items():
        if not np.isfinite(s.values).any() and not np.isinf(s.values).any():
            record.issues.append(f"column {column} has no finite value")
    return record


# ---------------------------------------------------------------------------------------------
# rules


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", name.lower()) if t}


def metric_direction(column: str, columns: Sequence[str] = (),
                     options: ReportOptions | None = None) -> str:
    """How a column's best value is chosen: ``max``, ``min``, ``at_best`` or ``""`` (none).

    Explicit ``higher_is_better`` / ``lower_is_better`` names win. A ``<x>_std`` column is
    never ranked itself: with a ``<x>_mean`` column beside it, it is ``at_best`` (its value at
    the row where ``<x>_mean`` is best), else unranked. Otherwise the name's tokens (split on
    non-alphanumerics) decide: fid, kid, swd, fd, mmd, distance, wasserstein, loss, error, err
    make it a distance (``min``); is, inception, precision, recall, accuracy, acc, density,
    coverage make it a score (``max``); anything else is unranked.
    """
    options = options or ReportOptions()
    if column in options.higher_is_better:
        return HIGHER
    if column in options.lower_is_better:
        return LOWER
    if column.endswith("_std"):
        return COMPANION if column[:-4] + "_mean" in columns else UNRANKED
    tokens = _tokens(column)
    if tokens & LOWER_TOKENS:
        return LOWER
    if tokens & HIGHER_TOKENS:
        return HIGHER
    return UNRANKED


def is_fid_like(column: str) -> bool:
    """Columns the FID-rise divergence rule applies to: a ``fid`` token in the name."""
    return "fid" in _tokens(column)


def pick_main_metric(columns: Sequence[str], options: ReportOptions | None = None) -> str | None:
    """``fid``, else the first FID-like column, else the first distance, else the first
    ranked column, else the first column."""
    if not columns:
        return None
    if "fid" in columns:
        return "fid"
    for test in (is_fid_like,
                 lambda c: metric_direction(c, columns, options) == LOWER,
                 lambda c: metric_direction(c, columns, options) in (LOWER, HIGHER)):
        for column in columns:
            if test(column):
                return column
    return columns[0]


def _best_index(values: np.ndarray, direction: str) -> int | None:
    finite = np.isfinite(values)
    if not finite.any():
        return None
    masked = np.where(finite, values, -np.inf if direction == HIGHER else np.inf)
    return int(np.argmax(masked) if direction == HIGHER else np.argmin(masked))


def run_final_best(record: RunRecord, column: str, direction: str, columns: Sequence[str]
                   ) -> tuple[float | None, int | None, float | None]:
    """``(final value, its iteration, best value)`` of one run's column; None where absent.

    final is the value of the run's last row holding the column, None when that value is not
    finite; best follows ``direction`` over the finite values (None when unranked).
    """
    s = record.metrics.get(column)
    if s is None or not np.isfinite(s.values).any():
        return None, None, None
    final = float(s.values[-1]) if np.isfinite(s.values[-1]) else None
    final_step = int(s.steps[-1])
    best = None
    if direction in (HIGHER, LOWER):
        best = float(s.values[_best_index(s.values, direction)])
    elif direction == COMPANION:
        base = record.metrics.get(column[:-4] + "_mean")
        base_dir = metric_direction(column[:-4] + "_mean", columns)
        if base is not None and base_dir in (HIGHER, LOWER):
            i = _best_index(base.values, base_dir)
            if i is not None:
                where = np.nonzero(s.steps == base.steps[i])[0]
                if where.size and np.isfinite(s.values[where[0]]):
                    best = float(s.values[where[0]])
    return final, final_step, best


def mean_std(values: Sequence[float], ddof: int = 0) -> tuple[float, float]:
    """Mean and std (``ddof``) of ``values``; NaN where undefined (no values, ddof >= n)."""
    if not values:
        return math.nan, math.nan
    arr = np.asarray(values, dtype=np.float64)
    std = float(np.std(arr, ddof=ddof)) if arr.size > ddof else math.nan
    return float(np.mean(arr)), std


def divergence(record: RunRecord, options: ReportOptions) -> list[tuple[str, int | None]]:
    """Why a run counts as diverged: ``[(detail, iteration)]`` by iteration (empty if not)."""
    out = []
    not_finite: dict[int, list[str]] = {}
    for column, s in record.metrics.items():
        finite = np.isfinite(s.values)
        bad = np.nonzero(~finite & (np.isinf(s.values) | (np.cumsum(finite) > 0)))[0]
        if bad.size:
            i = int(bad[0])
            not_finite.setdefault(int(s.steps[i]), []).append(f"{column}={s.values[i]}")
            continue
        if is_fid_like(column) and finite.any() and finite[-1]:
            i = _best_index(s.values, LOWER)
            best, final = float(s.values[i]), float(s.values[-1])
            if final > options.fid_ratio * best and final > best + options.fid_margin:
                out.append((f"{column} rose from its best {best:.4g} (iteration "
                            f"{int(s.steps[i])}) to {final:.4g} (iteration "
                            f"{int(s.steps[-1])})", int(s.steps[-1])))
    out += [(f"metrics not finite at iteration {step}: {', '.join(cols)}", step)
            for step, cols in not_finite.items()]
    out += [(f"{tag} is not finite at iteration {step}", step)
            for tag, step in record.scalar_first_bad.items() if tag.startswith("loss/")]
    out.sort(key=lambda item: (item[1], item[0]))
    return out


# ---------------------------------------------------------------------------------------------
# variants


def _ident(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except TypeError:
        return repr(value)


def variant_keys(runs: Sequence[Run]) -> tuple[list[str], list[str]]:
    """``(keys, shown)``: the config keys that vary over ``runs`` (not ``run``/``seed``), and
    the subset shown in tables (keys that follow from the others are left out)."""
    if not runs:
        return [], []
    names = list(runs[0].config)
    varying = [k for k in names if k not in REPLICATE_KEYS
               and len({_ident(r.config.get(k)) for r in runs}) > 1]
    rank = {k: i for i, k in enumerate(KEY_ORDER)}
    varying.sort(key=lambda k: (rank.get(k, len(rank)), names.index(k)))
    shown = list(varying)

    def count(keys: list[str]) -> int:
        return len({tuple(_ident(r.config.get(k)) for k in keys) for r in runs})

    total = count(shown)
    for key in reversed(varying):
        rest = [k for k in shown if k != key]
        if count(rest) == total:
            shown = rest
    return varying, shown


def _fmt_value(value: Any) -> str:
    return str(value)


def variant_label(run: Run, shown: Sequence[str]) -> str:
    """``key=value, ...`` of the shown variant keys (``all runs`` when none vary)."""
    return ", ".join(f"{k}={_fmt_value(run.config.get(k))}" for k in shown) or "all runs"


def _split_name(prefix: str, column: str, split: str | None) -> str:
    """``<prefix>-<column>[__<split>].png``, the file name of one figure per split."""
    return f"{prefix}-{_slug(column)}" + (f"__{_slug(split)}" if split else "") + ".png"


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._,+-]+", "_", text.replace("=", "-").replace(", ", ","))
    if len(slug) > 120:
        slug = slug[:100] + "-" + hashlib.sha1(text.encode()).hexdigest()[:10]
    return slug


# ---------------------------------------------------------------------------------------------
# tables


def _fmt(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.4g}"


def _fmt_mean_std(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{_fmt(mean)} ± {_fmt(std)}"


def _csv_number(x: Any) -> Any:
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ""
    return "" if x is None else x


def _group_rows(records: list[RunRecord], variants: list[tuple[str, ...]], varying: list[str],
                shown: list[str], columns: list[str], options: ReportOptions
                ) -> list[dict[str, Any]]:
    rows = []
    for variant in variants:
        members = [r for r in records if r.variant == variant]
        first = members[0].run
        base: dict[str, Any] = {k: first.config.get(k) for k in varying}
        base["variant"] = variant_label(first, shown)
        base["runs"] = len(members)
        base["completed"] = sum(r.state == COMPLETED for r in members)
        for column in columns or [""]:
            row = dict(base, metric=column)
            direction = metric_direction(column, columns, options) if column else UNRANKED
            finals, bests, steps = [], [], []
            with_data = 0
            for r in members:
                if not column:
                    continue
                final, step, best = run_final_best(r, column, direction, columns)
                if step is None:
                    continue
                with_data += 1
                steps.append(step)
                if final is not None:
                    finals.append(final)
                if best is not None:
                    bests.append(best)
            row["direction"] = direction
            row["with_data"] = with_data
            row["final_n"] = len(finals)
            row["final_mean"], row["final_std"] = mean_std(finals, options.ddof)
            row["best_n"] = len(bests)
            row["best_mean"], row["best_std"] = mean_std(bests, options.ddof)
            row["final_iter_min"] = min(steps) if steps else None
            row["final_iter_max"] = max(steps) if steps else None
            rows.append(row)
    return rows


def _markdown_table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in body]
    return "\n".join(lines)


def metric_table(rows: Sequence[dict[str, Any]], column: str, shown: Sequence[str]) -> str:
    """The Markdown table of one metric: a line per variant."""
    header = [*shown, "runs", "completed", "with data", f"final {column}",
              f"best {column}", "final at iteration"]
    body = []
    for row in rows:
        if row["metric"] != column:
            continue
        final = _fmt_mean_std(row["final_mean"], row["final_std"])
        if row["final_n"] != row["with_data"] and row["final_n"]:
            final += f" (n={row['final_n']})"
        best = (_fmt_mean_std(row["best_mean"], row["best_std"])
                if row["direction"] else "unranked")
        if row["direction"] and row["best_n"] != row["with_data"] and row["best_n"]:
            best += f" (n={row['best_n']})"
        lo, hi = row["final_iter_min"], row["final_iter_max"]
        iters = "–" if lo is None else (str(lo) if lo == hi else f"{lo}–{hi}")
        body.append([*(_fmt_value(row[k]) for k in shown), row["runs"], row["completed"],
                     row["with_data"], final, best, iters])
    return _markdown_table(header, body)


# ---------------------------------------------------------------------------------------------
# figures


def _aggregate(series: Sequence[Series]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * cols, size[1] * rows))
    FigureCanvasAgg(fig)
    return fig


def _save_figure(fig: Any, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    os.replace(tmp, path)


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


def _split_by(records: list[RunRecord], variants: list[tuple[str, ...]], shown: list[str]
              ) -> list[tuple[str, list[tuple[str, ...]]]]:
    """Variants split into figure files by dataset when the dataset varies."""
    if "dataset" not in shown or len(variants) <= 1:
        return [("", variants)]
    first = {v: next(r.run for r in records if r.variant == v) for v in variants}
    out: dict[str, list[tuple[str, ...]]] = {}
    for v in variants:
        out.setdefault(f"dataset={first[v].config['dataset']}", []).append(v)
    return list(out.items())


class _Figures:
    """Writes the report's PNGs and remembers what was written and what was skipped."""

    def __init__(self, folder: str, records: list[RunRecord], variants: list[tuple[str, ...]],
                 shown: list[str], rows: list[dict[str, Any]], columns: list[str],
                 main_metric: str | None):
        self.folder = folder
        self.records = records
        self.variants = variants
        self.shown = shown
        self.rows = rows
        self.columns = columns
        self.main_metric = main_metric
        self.written: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        self.labels = {v: variant_label(next(r.run for r in records if r.variant == v), shown)
                       for v in variants}

    def members(self, variant: tuple[str, ...]) -> list[RunRecord]:
        return [r for r in self.records if r.variant == variant]

    def save(self, fig: Any, name: str) -> None:
        path = os.path.join(self.folder, name)
        _save_figure(fig, path)
        self.written.append(path)

    def finish(self, fig: Any, ax: Any, xlabel: str, ylabel: str, title: str,
               name: str) -> None:
        """Label, grid and legend ``ax``, then save ``fig`` as ``name``."""
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        _legend(ax)
        self.save(fig, name)

    def metric_curves(self) -> None:
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
                name = _split_name("metric", column, split)
                if not drawn:
                    self.skipped.append((name, f"no finite {column} values"))
                    continue
                self.finish(fig, ax, "iteration (global_id)", column,
                            f"{column}{' (' + split + ')' if split else ''}: mean over runs, "
                            "band min–max", name)

    def scaling(self) -> None:
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
                row = next(r for r in self.rows if r["variant"] == self.labels[v]
                           and r["metric"] == column)
                if not math.isfinite(row["final_mean"]):
                    continue
                run = self.members(v)[0].run
                label = ", ".join(f"{k}={_fmt_value(run.config.get(k))}"
                                  for k in series_keys if k != "dataset" or not split)
                lines.setdefault(label or "all runs", []).append(
                    (float(run.config["scale"]), row["final_mean"],
                     row["final_std"] if math.isfinite(row["final_std"]) else 0.0))
            name = _split_name("scaling", column, split)
            lines = {k: sorted(pts) for k, pts in lines.items() if len(pts) >= 2}
            if not lines:
                self.skipped.append((name, f"no variant has final {column} at two scales"))
                continue
            fig = _new_figure()
            ax = fig.add_subplot()
            for label, pts in lines.items():
                x, y, e = (np.array(a) for a in zip(*pts, strict=True))
                ax.errorbar(x, y, yerr=e, label=label, marker="o", capsize=3)
            self.finish(fig, ax, "scale", f"final {column}",
                        f"final {column} vs scale{' (' + split + ')' if split else ''}: "
                        "mean ± std over runs", name)

    def diagnostics(self) -> None:
        for v in self.variants:
            members = self.members(v)
            name = f"diagnostics__{_slug(self.labels[v])}.png"
            layers: dict[int, list[Series]] = {}
            for r in members:
                for tag, s in r.scalars.items():
                    m = _SIGMA_TAG.match(tag)
                    if m and (m.group(2) is None or m.group(2) == "0"):
                        layers.setdefault(int(m.group(1)), []).append(s)
            slopes = {kind: [r.scalars[f"d/mean_{kind}_slopes"] for r in members
                             if f"d/mean_{kind}_slopes" in r.scalars] for kind in ("real", "fake")}
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
                    finite = np.concatenate([s.values[np.isfinite(s.values)]
                                             for group in layers.values() for s in group])
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
                _plot_band(ax, layers[i], f"gamma {i} (d/scale{i})")
            self.finish(fig, ax, "iteration (global_id)", "learned gamma",
                        f"{self.labels[v]}: learned gammas, mean over runs",
                        f"gammas__{_slug(self.labels[v])}.png")
        if not any_gamma:
            self.skipped.append(("gammas__*.png", "no d/scale* scalars (no learned gammas)"))


# ---------------------------------------------------------------------------------------------
# the report


def _write_text_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def _resolve_task(task: str | Task, results_dir: str | None) -> Task:
    if isinstance(task, Task):
        if results_dir is None:
            return task
        root = os.path.abspath(results_dir)
        runs = [replace(r, run_dir=os.path.join(root, r.name)) for r in task.runs]
        return replace(task, results_root=root, runs=runs)
    return load_task(task, results_dir=results_dir)


def _failures(records: list[RunRecord], options: ReportOptions) -> list[Failure]:
    """Every problem of every run, ordered by kind (FAILURE_KINDS) then by task order."""
    state_detail = {
        CRASHED: None,
        INTERRUPTED: "stopped by a signal after a checkpoint; the next start resumes it",
        RUNNING: f"{LOCK_FILE} is held by another process",
        NOT_STARTED: "no run folder",
    }
    out: list[tuple[int, Failure]] = []
    for index, r in enumerate(records):
        base = {"variant": r.label, "run": r.run.config.get("run"), "folder": r.run.name}
        problems = [(DIVERGED, detail, step) for detail, step in divergence(r, options)]
        if r.state in state_detail:
            problems.append((r.state, state_detail[r.state] or r.error_line or "", None))
        problems += [(DATA, issue, None) for issue in r.issues]
        out += [(index, Failure(kind=kind, detail=detail, iteration=step, **base))
                for kind, detail, step in problems]
    order = {k: i for i, k in enumerate(FAILURE_KINDS)}
    out.sort(key=lambda item: (order[item[1].kind], item[0]))
    return [f for _, f in out]


def _rules_text(options: ReportOptions) -> list[str]:
    std = ("population std (ddof=0: one run gives 0)" if options.ddof == 0 else
           f"std with ddof={options.ddof} (empty when a variant has {options.ddof} run"
           f"{'s' if options.ddof > 1 else ''} or fewer)")
    return [
        "- **final**: each run's last `metrics.csv` row. Runs of different lengths each "
        "contribute their own last row; the last column gives the range of those iterations.",
        "- **best**: per run, the maximum over its rows for scores (IS-like: names with is, "
        "inception, precision, recall, acc(uracy), density, coverage) and the minimum for "
        "distances (names with fid, kid, swd, fd, mmd, distance, wasserstein, loss, err(or)); "
        "a `<x>_std` column takes its value at the row where `<x>_mean` is best; other columns "
        "are unranked (`--report_higher_is_better` / `--report_lower_is_better` name them).",
        f"- **mean ± std** over the runs whose value is finite, {std}; `(n=k)` marks a cell "
        "with fewer runs than *with data* (runs with at least one finite value).",
        "- **main metric**: `fid`, else the first column with a `fid` token, else the first "
        "distance.",
        "- **variants** group the runs by every config key that varies over the task except "
        "`run` and `seed`; keys that follow from the shown ones are left out of the tables "
        "(summary.csv has them all).",
        "- **diverged**: a metric NaN/inf after a finite value (or ever inf), a `loss/*` scalar "
        f"NaN/inf, or an FID-like column whose final value exceeds {options.fid_ratio:g} x its "
        f"best and best + {options.fid_margin:g} (`--report_fid_ratio`, "
        "`--report_fid_margin`).",
        "- **running**: another process holds the run's `.lock`; **interrupted**: no "
        "COMPLETED and the last worker.log session ends with the trainer's stop-requested "
        "checkpoint; **crashed**: no COMPLETED, no lock, not interrupted (the last error line "
        "of worker.log is shown); **not started**: no run folder.",
    ]


def write_report(task: str | Task, results_dir: str | None = None,
                 options: ReportOptions | None = None, selection: str | None = None
                 ) -> ReportSummary:
    """Read every run of ``task`` (a task folder or a loaded :class:`Task`) and write
    ``<results root>/report/``; returns where it went and the headline numbers.

    ``results_dir`` replaces the task's results root; ``selection`` (e.g. the ``--only``
    text) is only mentioned in the report.
    """
    options = options or ReportOptions()
    task = _resolve_task(task, results_dir)
    runs = task.distinct_runs()
    report_dir = os.path.join(task.results_root, REPORT_DIR)
    figures_dir = os.path.join(report_dir, FIGURES_DIR)
    os.makedirs(report_dir, exist_ok=True)
    cache_dir = os.path.join(report_dir, CACHE_DIR) if options.cache else None

    varying, shown = variant_keys(runs)
    records: list[RunRecord] = []
    variants: list[tuple[str, ...]] = []
    if cache_dir is not None:
        try:
            warm_event_cache(runs, cache_dir, options)
        except Exception as exc:  # e.g. no processes allowed: the main pass parses them
            logging.warning("report: parallel parsing failed (%s: %s); parsing in this "
                            "process", type(exc).__name__, exc)
    verdicts = scheduler_verdicts(task.scheduler_log_path)
    for run in runs:
        variant = tuple(_ident(run.config.get(k)) for k in varying)
        if variant not in variants:
            variants.append(variant)
        record = inspect_run(run, variant, task, options, cache_dir, verdicts.get(run.name))
        record.label = variant_label(run, shown)
        records.append(record)

    columns: list[str] = []
    for r in records:
        for column in r.metrics:
            if column not in columns:
                columns.append(column)
    main_metric = pick_main_metric(columns, options)
    rows = _group_rows(records, variants, varying, shown, columns, options)
    failures = _failures(records, options)

    # figures: stale PNGs of an earlier report are removed first
    if os.path.isdir(figures_dir):
        for name in os.listdir(figures_dir):
            if name.endswith(".png"):
                os.remove(os.path.join(figures_dir, name))
    figs = _Figures(figures_dir, records, variants, shown, rows, columns, main_metric)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for make in (figs.metric_curves, figs.scaling, figs.diagnostics, figs.gammas):
            try:
                make()
            except Exception as exc:  # a figure must not cost the tables
                logging.warning("report: figure %s failed: %s: %s", make.__name__,
                                type(exc).__name__, exc)
                figs.skipped.append((make.__name__, f"failed: {type(exc).__name__}: {exc}"))

    state_counts = {s: sum(r.state == s for r in records) for s in STATES}
    failure_counts = {k: len({f.folder for f in failures if f.kind == k})
                      for k in FAILURE_KINDS}
    main_table = metric_table(rows, main_metric, shown) if main_metric else ""

    # summary.csv
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*varying, *SUMMARY_FIELDS])
    for row in rows:
        writer.writerow([*(_fmt_value(row[k]) for k in varying),
                         *(_csv_number(row[k]) for k in SUMMARY_FIELDS)])
    summary_csv = os.path.join(report_dir, SUMMARY_CSV)
    _write_text_atomic(summary_csv, buf.getvalue())

    # failures.csv
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FAILURE_FIELDS)
    for f in failures:
        writer.writerow([f.variant, f.run, f.folder, f.kind,
                         "" if f.iteration is None else f.iteration, f.detail])
    failures_csv = os.path.join(report_dir, FAILURES_CSV)
    _write_text_atomic(failures_csv, buf.getvalue())

    md = _markdown(task, selection, records, shown, varying, columns, rows, main_metric,
                   main_table, failures, state_counts, failure_counts, figs, options)
    markdown_path = os.path.join(report_dir, REPORT_MD)
    _write_text_atomic(markdown_path, md)
    logging.info("report of %s written to %s", task.name, report_dir)
    return ReportSummary(task.name, report_dir, markdown_path, summary_csv, failures_csv,
                         figs.written, figs.skipped, main_metric, main_table, state_counts,
                         failure_counts, rows, failures)


def _markdown(task: Task, selection: str | None, records: list[RunRecord], shown: list[str],
              varying: list[str], columns: list[str], rows: list[dict[str, Any]],
              main_metric: str | None, main_table: str, failures: list[Failure],
              state_counts: dict[str, int], failure_counts: dict[str, int], figs: _Figures,
              options: ReportOptions) -> str:
    out = [f"# Report: {task.name}", "",
           f"Task folder `{task.task_dir}`, results `{task.results_root}`"
           + (f", runs selected with `--only {selection}`" if selection else "") + ".", "",
           f"{len(records)} run folders: " + ", ".join(f"{state_counts[s]} {s}" for s in STATES)
           + f"; {failure_counts[DIVERGED]} diverged.", ""]
    hidden = [k for k in varying if k not in shown]
    if hidden:
        out += [f"Also varying, but following from the shown keys: {', '.join(hidden)}.", ""]
    out += ["## Rules", "", *_rules_text(options), ""]
    if main_metric is None:
        out += ["## Metrics", "", "No run has metric data yet.", ""]
    else:
        out += [f"## Main metric: {main_metric}", "", main_table, ""]
        others = [c for c in columns if c != main_metric]
        if others:
            out += ["## Other metrics", ""]
            for column in others:
                direction = metric_direction(column, columns, options)
                how = {HIGHER: "best = max", LOWER: "best = min", UNRANKED: "unranked",
                       COMPANION: f"best = value where {column[:-4]}_mean is best"}[direction]
                out += [f"### {column} ({how})", "", metric_table(rows, column, shown), ""]
    out += ["## Runs and failures", "",
            _markdown_table(["state / problem", "runs"],
                            [[s, state_counts[s]] for s in STATES]
                            + [[k, failure_counts[k]] for k in (DIVERGED, DATA)]), ""]
    listed = [f for f in failures if f.kind != DATA]
    if listed:
        out += [_markdown_table(["kind", "variant", "run", "folder", "iteration", "detail"],
                                [[f.kind, f.variant, f.run, f"`{f.folder}`",
                                  "" if f.iteration is None else f.iteration, f.detail]
                                 for f in listed]), ""]
    data = [f for f in failures if f.kind == DATA]
    out += ["## Data problems", ""]
    if data:
        out += [_markdown_table(["variant", "run", "folder", "problem"],
                                [[f.variant, f.run, f"`{f.folder}`", f.detail] for f in data]),
                ""]
    else:
        out += ["None.", ""]
    out += ["## Figures", ""]
    for path in figs.written:
        rel = os.path.relpath(path, os.path.dirname(figs.folder))
        out += [f"![{os.path.basename(path)}]({rel})", ""]
    if figs.skipped:
        out += ["Not drawn:", ""] + [f"- `{name}`: {why}" for name, why in figs.skipped] + [""]
    return "\n".join(out)


def summary_text(summary: ReportSummary) -> str:
    """A short stdout summary: the main metric's table, the failure counts, the location."""
    c, f = summary.state_counts, summary.failure_counts
    total = sum(c.values())
    lines = [f"Report of {summary.task_name}: {total} runs, "
             + ", ".join(f"{c[s]} {s}" for s in STATES) + "."]
    if summary.main_metric:
        lines += [f"Main metric {summary.main_metric} (final and best over runs, mean ± std):",
                  summary.main_table]
    else:
        lines.append("No metric data yet.")
    lines.append("Failures: " + ", ".join(f"{f[k]} {k}" for k in FAILURE_KINDS if k != DATA)
                 + f"; {f[DATA]} runs with data problems.")
    lines.append(f"Report written to {summary.markdown_path} (summary.csv, failures.csv, "
                 f"{len(summary.figures)} figures in {FIGURES_DIR}/).")
    return "\n".join(lines)
