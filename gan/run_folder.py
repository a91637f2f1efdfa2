"""The run-folder contract: every file name a run folder holds, the exit codes, the status file.

A run folder is written by two programs: the scheduler (``gan.scheduler``: ``config.json``,
``.lock``, the worker log) and the run process (``gan.run``: everything else). Whatever reads a
run folder (the scheduler, ``--dry_run``, the report, ``sample``/``evaluate``/``export``) takes
the names from here, and learns how a run ended from ``status.json`` (:class:`RunStatus`),
never from the wording of a log line.

Every file a run, the report or a command writes goes through :func:`gan.atomic.atomic_path`
(a temporary name beside the target, renamed over it when complete; re-exported here), so a
reader sees the old or the whole new content, never a part. ``status.json`` is rewritten so by
the run process as it starts, while it trains (progress) and when it ends; the scheduler writes
it only when the run process died without saying how it ended (a crash, a kill).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gan.atomic import (  # noqa: F401  (re-exported: the run folder's writers)
    INCEPTION_WEIGHTS_PREFIX,
    atomic_path,
    remove_path,
    remove_temporaries,
    write_atomic,
    write_json_atomic,
)
from gan.config import ConfigError, RunConfig, validate_run_config

CONFIG_FILE = "config.json"
#: A changed config the scheduler proposes for a run that already has a config.json: the run
#: process trains with it and renames it over config.json once its checkpoint and metrics.csv
#: accept it; a refused resume leaves config.json as it was (the scheduler removes the file).
PROPOSED_CONFIG_FILE = "config.proposed.json"
SEED_FILE = "seed.json"
STATUS_FILE = "status.json"
COMPLETED_FILE = "COMPLETED"
LOCK_FILE = ".lock"
WORKER_LOG = "worker.log"  # the default of the scheduler's ``log_file`` key
TIME_FILE = "time.txt"
METRICS_FILE = "metrics.csv"
SAMPLE_DIR = "sample"
CHECKPOINT_DIR = "checkpoint"
EVAL_DIR = "eval"
METRIC_STATE_FILE = "metric_state.npz"  # under CHECKPOINT_DIR: the metrics' kept state
EVAL_METRICS_FILE = METRICS_FILE  # under EVAL_DIR: `main.py evaluate`'s table
EVAL_SAMPLES_FILE = "samples.npz"  # under EVAL_DIR: `main.py sample`'s default output

#: Names a run process or the scheduler may create in a run folder (besides the worker log,
#: whose name the task's ``log_file`` sets, and transient ``.inception_weights.*`` files).
RUN_ENTRIES = frozenset(
    {
        CONFIG_FILE,
        PROPOSED_CONFIG_FILE,
        SEED_FILE,
        STATUS_FILE,
        COMPLETED_FILE,
        LOCK_FILE,
        TIME_FILE,
        METRICS_FILE,
        SAMPLE_DIR,
        CHECKPOINT_DIR,
        EVAL_DIR,
    }
)
#: Suffix of a checkpoint's files renamed aside because they do not read completely.
CORRUPT_SUFFIX = ".corrupt"
#: Written (in the checkpoint folder) when a stop abandoned iteration N's evaluation after
#: checkpoint N was saved: the resumed run redoes that evaluation before going on.
PENDING_FILE = "pending_evaluation.json"

EXIT_OK = 0
EXIT_CRASHED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped after a checkpoint, run it again to resume

# States of status.json.
RUNNING = "running"
COMPLETED = "completed"
INTERRUPTED = "interrupted"  # stopped by a signal after saving a checkpoint
FAILED = "failed"  # bad input (exit 2): ``error`` says what
CRASHED = "crashed"  # anything else: ``error``, ``exit_code`` or ``signal`` say what is known
STATES = (RUNNING, COMPLETED, INTERRUPTED, FAILED, CRASHED)


@dataclass(frozen=True)
class RunStatus:
    """What a run folder's ``status.json`` says.

    ``iteration`` counts the iterations finished (the last ``global_id`` + 1) of ``total``;
    ``checkpoint`` is the iteration count of the latest saved checkpoint. ``progress`` holds the
    trainer's latest ``it_per_s``, ``eta_s`` and last losses while it runs. ``error`` is one line.
    ``slurm_job`` is the Slurm job of the process (``<array job>_<index>`` for a job array's
    element; None outside Slurm and in files written before it existed).
    """

    state: str
    iteration: int | None = None
    total: int | None = None
    checkpoint: int | None = None
    exit_code: int | None = None
    signal: int | None = None
    error: str | None = None
    pid: int | None = None
    host: str | None = None
    updated: float = 0.0
    progress: dict[str, Any] = field(default_factory=dict)
    slurm_job: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Any) -> RunStatus:
        """The status a parsed ``status.json`` holds; a ValueError naming the first field that
        is not of its kind (the file is then unreadable: a hand edit, a damaged disk)."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"a JSON {type(obj).__name__}, not an object")
        known = {k: v for k, v in obj.items() if k in cls.__dataclass_fields__}
        if known.get("state") not in STATES:
            raise ValueError(f"unknown state {known.get('state')!r}")
        for key, value in known.items():
            kinds = _FIELD_KINDS.get(key)
            if kinds is None or (value is None and key not in ("updated", "progress")):
                continue
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise ValueError(f"{key} {value!r} is not {_KIND_WORDS[kinds]}")
        pid = known.get("pid")
        if pid is not None and not 0 < pid < 2**31:
            raise ValueError(f"pid {pid} is no process id")
        return cls(**known)


_FIELD_KINDS: dict[str, type | tuple[type, ...]] = {
    "iteration": int,
    "total": int,
    "checkpoint": int,
    "exit_code": int,
    "signal": int,
    "pid": int,
    "error": str,
    "host": str,
    "slurm_job": str,
    "updated": (int, float),
    "progress": dict,
}
_KIND_WORDS = {int: "an integer", str: "a string", (int, float): "a number", dict: "an object"}


def require_run_folder(run_dir: str) -> str:
    """``run_dir`` made absolute, or a ConfigError when it is not a run folder."""
    if not os.path.isdir(run_dir):
        raise ConfigError(
            f"{run_dir}: no such folder (expected a run folder holding "
            f"{CONFIG_FILE} and {CHECKPOINT_DIR}/)"
        )
    if not is_run_folder(run_dir):
        raise ConfigError(
            f"{run_dir} is not a run folder: it has no {CONFIG_FILE} (a run "
            "folder is one the scheduler made under the task's results folder)"
        )
    return os.path.abspath(run_dir)


def read_run_config(run_dir: str, name: str = CONFIG_FILE) -> RunConfig:
    """The validated config of the run in ``run_dir`` (from its file ``name``)."""
    path = os.path.join(run_dir, name)
    if not os.path.isfile(path):
        raise ConfigError(
            f"{path} not found: a run folder needs the config.json the scheduler writes"
        )
    try:
        with open(path) as f:
            raw = json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    return validate_run_config(raw, where=path)


def _seed_in_file(path: str) -> int:
    with open(path) as f:
        return int(json.load(f)["seed"])


def read_seed(config: RunConfig, run_dir: str) -> int:
    """The run's seed (config, else ``seed.json``), without drawing one as :func:`run_seed`
    would; a ConfigError when the file cannot be read."""
    if config.seed is not None:
        return config.seed
    path = os.path.join(run_dir, SEED_FILE)
    try:
        return _seed_in_file(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(
            f"{path}: cannot read the run's seed ({e}); the config has seed "
            "None, so the run keeps the seed it drew there"
        ) from None


def run_seed(config: RunConfig, run_dir: str) -> int:
    """The run's seed: from the config, else drawn once and kept in ``seed.json``."""
    if config.seed is not None:
        return config.seed
    path = os.path.join(run_dir, SEED_FILE)
    if os.path.isfile(path):
        return _seed_in_file(path)
    seed = secrets.randbelow(2**31)
    write_json_atomic(path, {"seed": seed})
    return seed


def status_path(run_dir: str) -> str:
    return os.path.join(run_dir, STATUS_FILE)


def read_status(run_dir: str) -> RunStatus | None:
    """The run's status, or None when the folder has no readable ``status.json`` (none, or
    one :func:`status_problem` finds damaged: the status is then unknown)."""
    try:
        return _load_status(run_dir)
    except (OSError, ValueError):
        return None


def status_problem(run_dir: str) -> str | None:
    """Why the run's ``status.json`` exists but cannot be read (not JSON, cut, empty, not an
    object, a field of the wrong kind); None when it reads or when there is none."""
    try:
        _load_status(run_dir)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return one_line(f"{STATUS_FILE}: {exc.strerror if isinstance(exc, OSError) else exc}")
    return None


def _load_status(run_dir: str) -> RunStatus:
    with open(status_path(run_dir), "rb") as f:
        data = f.read()
    if not data.strip():
        raise ValueError("empty")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError too
        raise ValueError(f"not valid JSON ({one_line(exc, 120)})") from None
    return RunStatus.from_json(obj)


def write_status(run_dir: str, status: RunStatus) -> RunStatus:
    """Write ``status`` (stamped with the time) atomically; returns what was written."""
    status = replace(status, updated=time.time())
    write_json_atomic(status_path(run_dir), status.to_json())
    return status


def update_status(run_dir: str, state: str | None = None, **changes: Any) -> RunStatus:
    """Rewrite ``status.json`` with ``changes`` applied to what it holds (a new one if none).

    A new state clears the previous ending's details (``exit_code``, ``signal``, ``error``)
    unless ``changes`` sets them.
    """
    old = read_status(run_dir) or RunStatus(state=state or RUNNING)
    if state is not None and state != old.state:
        old = replace(old, state=state, exit_code=None, signal=None, error=None)
    return write_status(run_dir, replace(old, **changes))


def slurm_job_id(environ: Mapping[str, str] | None = None) -> str | None:
    """The Slurm job this process runs in, from its ``SLURM_*`` environment: ``<array job
    id>_<index>`` in a job array's element, else the job id; None outside Slurm."""
    env = os.environ if environ is None else environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env.get("SLURM_JOB_ID") or None


def process_status(state: str, **changes: Any) -> dict[str, Any]:
    """``state`` with this process's pid, host and Slurm job, as keyword arguments of
    ``update_status``."""
    return {
        "state": state,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "slurm_job": slurm_job_id(),
        **changes,
    }


def take_lock(run_dir: str) -> int | None:
    """Claim the run in ``run_dir`` for this process: an exclusive non-blocking ``flock`` on
    ``<run_dir>/.lock`` (created if missing). Returns the open descriptor holding the claim
    (it lasts until every copy of it is closed: a run process that inherits it keeps the
    claim when the claimer dies), or None when another process holds it."""
    fd = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def lock_held(run_dir: str) -> bool:
    """True when another process holds ``<run_dir>/.lock`` (the claim :func:`take_lock` takes).

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


def owned_entries(run_dir: str, log_file: str | None) -> list[str]:
    """The names in ``run_dir`` a run wrote: :data:`RUN_ENTRIES`, the worker log ``log_file``,
    transient Inception weights and the temporary files of atomic writes of those names.

    The lock file is left out: it is the claim of whoever clears the folder.
    """
    owned = (RUN_ENTRIES - {LOCK_FILE}) | ({log_file} if log_file else set())
    out = []
    for name in sorted(os.listdir(run_dir)):
        if (
            name in owned
            or name.startswith(INCEPTION_WEIGHTS_PREFIX)
            or any(name.startswith(f"{o}.tmp") for o in owned)
        ):
            out.append(name)
    return out


def clear_run(run_dir: str, log_file: str | None) -> list[str]:
    """Delete what the run in ``run_dir`` wrote (:func:`owned_entries`), nothing else.

    A task without ``test_config`` uses its results root as its run folder, so the folder may
    hold the scheduler log, the report and anything the user put there: those stay. Returns
    the names deleted.
    """
    names = owned_entries(run_dir, log_file)
    for name in names:
        full = os.path.join(run_dir, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.remove(full)
    return names


def refuse_output_over_runs(out: str, run_dir: str | None = None) -> None:
    """A ConfigError (one line) when writing the output ``out`` (with or without
    ``--overwrite``) could delete or replace a run: ``out`` is the run folder ``run_dir`` or
    any run folder, lies inside one (its checkpoints, its own files), or is a folder holding
    one. Symbolic links are followed."""
    target = os.path.realpath(out.rstrip("/") or out)
    runs = [os.path.realpath(run_dir)] if run_dir is not None else []
    parent = target
    while True:
        if is_run_folder(parent):
            runs.append(parent)
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    for run in runs:
        if target == run:
            where = f"is the run folder {run}"
        elif os.path.commonpath([target, run]) == run:
            where = f"lies inside the run folder {run}"
        elif os.path.commonpath([target, run]) == target:
            where = f"holds the run folder {run}"
        else:
            continue
        raise ConfigError(f"--out {out}: {where}; choose a path outside every run folder")
    if os.path.isdir(target) and not os.path.islink(target):
        for folder, _, _ in os.walk(target):
            if is_run_folder(folder):
                raise ConfigError(
                    f"--out {out}: holds the run folder {folder}; choose a path outside "
                    "every run folder"
                )


def is_run_folder(path: str) -> bool:
    """Whether ``path`` is a run folder (it holds the ``config.json`` the scheduler writes)."""
    return os.path.isfile(os.path.join(path, CONFIG_FILE))


def one_line(message: object, limit: int = 500) -> str:
    """``message`` as one line of at most ``limit`` characters (for ``error`` fields)."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
