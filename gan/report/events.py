"""The event files of runs: a TFRecord reader without TensorFlow, a JSON cache, a process pool.

:func:`read_event_scalars` merges the scalars of a run's ``checkpoint/events.out.tfevents.*``
files (a resumed run's later file replaces what the earlier ones logged from its first step
on); :func:`cached_event_scalars` keys a JSON cache on the files' sizes and mtimes;
:func:`warm_event_cache` parses many runs' files in parallel processes into that cache.
"""

from __future__ import annotations

import concurrent.futures
import glob
import hashlib
import json
import math
import multiprocessing
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from absl import logging
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.util import tensor_util

from gan.config import RunConfig
from gan.report.records import (
    CACHE_VERSION,
    EVENTS_GLOB,
    ReportOptions,
    Series,
)
from gan.run_folder import write_atomic
from gan.tasks import Run

PARALLEL_EVENT_BYTES = 64 * 2**20

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
        error = f"{os.path.basename(path)}: unreadable after {count} events ({type(exc).__name__})"
    for tag, step in last_step.items():
        values.setdefault(tag, {})[step] = last_value[tag]
    return _FileScalars(os.path.basename(path), first_wall, min_step, values, first_bad, error)


def read_event_scalars(
    paths: Sequence[str], keep_every: int = 1
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


def event_stride(config: RunConfig, max_points: int) -> int:
    """The step stride that keeps at most about ``max_points`` summary steps of a run."""
    freq = config.summary_freq
    count = max(1, config.iteration // freq)
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
            series = {
                t: Series(np.array(s, dtype=np.int64), np.array(v, dtype=np.float64))
                for t, (s, v) in cached["scalars"].items()
            }
            return series, dict(cached["first_bad"]), list(cached["issues"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def read(self) -> tuple[dict[str, Series], dict[str, int], list[str]]:
        """Parse the files and write the cache."""
        series, bad, issues = read_event_scalars(self.paths, self.key["keep_every"])
        if self.cache_path is not None:
            blob = {
                "key": self.key,
                "first_bad": bad,
                "issues": issues,
                "scalars": {t: [s.steps.tolist(), s.values.tolist()] for t, s in series.items()},
            }
            try:
                os.makedirs(os.path.dirname(self.cache_path), exist_ok=True)
                write_atomic(self.cache_path, json.dumps(blob))
            except OSError as exc:
                logging.warning("report: cannot write the event cache %s: %s", self.cache_path, exc)
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


def cached_event_scalars(
    run: Run, cache_dir: str | None, keep_every: int
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
        files = _event_files(run, cache_dir, event_stride(run.config, options.max_points))
        if files.paths and files.load() is None:
            jobs.append(files)
            total += sum(size for _, size, _ in files.key["files"])
    workers = options.workers
    if workers == 0:
        workers = min(8, os.cpu_count() or 1) if total > PARALLEL_EVENT_BYTES else 1
    workers = min(workers, len(jobs))
    if workers <= 1:
        return 0
    logging.info(
        "report: parsing the event files of %d runs (%.0f MiB) in %d processes",
        len(jobs),
        total / 2**20,
        workers,
    )
    # spawn: the parent may hold TensorFlow's threads, which fork does not copy safely
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        futures = {pool.submit(_parse_into_cache, files): files for files in jobs}
        for future in concurrent.futures.as_completed(futures):
            try:
                future.result()
            except Exception as exc:  # the run is read again (and reported) in the main pass
                logging.warning(
                    "report: parsing %s failed: %s: %s",
                    os.path.dirname(futures[future].paths[0]),
                    type(exc).__name__,
                    exc,
                )
    return len(jobs)
