"""A task folder's ``config.py`` expanded into runs, and the ways a command line narrows them.

A task folder holds ``config.py`` with a dict ``config`` in the original GPUTaskScheduler grammar
(``scheduler_config``, ``global_config``, ``test_config``). ``load_task`` expands it into
:class:`Run` objects (validated full configs and result folders, named by ``folder_name``);
``filter_runs``, ``apply_overrides``, ``select_runs``, ``shard_runs`` and ``with_gpu_entries``
narrow or change a loaded task; ``run_state`` reads whether a run's folder is done. Running the
runs is :mod:`gan.scheduler`'s job.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gan.config import (
    DEFAULT_RESULTS_ROOT,
    RUN_KEYS,
    SCHEDULER_KEYS,
    ConfigError,
    RunConfig,
    check_value,
    fill_and_check,
    parse_assignments,
    unknown_key_message,
    validate_run_config,
)
from gan.plugins import load_plugins
from gan.run_folder import COMPLETED_FILE, LOCK_FILE


@dataclass(frozen=True)
class Run:
    """One expanded run: its folder name and path, where it came from and its full config."""

    name: str
    run_dir: str
    block: int
    combo: dict[str, Any]
    config: RunConfig


@dataclass
class Task:
    """A loaded task folder: scheduler settings, worker GPU entries and the expanded runs."""

    name: str
    task_dir: str
    config_path: str
    scheduler_config: dict[str, Any]
    gpus: list[str]
    results_root: str
    runs: list[Run] = field(default_factory=list)

    def distinct_runs(self) -> list[Run]:
        """The runs with one entry per result folder (first occurrence kept, order kept)."""
        return distinct_runs(self.runs)

    @property
    def force_rerun(self) -> bool:
        """The ``force_rerun`` setting of the task's scheduler_config."""
        return bool(self.scheduler_config["force_rerun"])

    @property
    def scheduler_log_path(self) -> str | None:
        """Absolute path of the scheduler log, or None when it is switched off."""
        path = self.scheduler_config["scheduler_log_file_path"]
        return None if path is None else os.path.join(self.results_root, path)


def load_task(task_dir: str, results_dir: str | None = None) -> Task:
    """Load ``<task_dir>/config.py`` and expand it into validated runs.

    ``results_dir`` (the ``--results_dir`` flag) replaces the results root; otherwise it is
    ``scheduler_config["result_root_folder"]`` (relative to the task folder) or
    ``results/<task name>`` in the repository.
    """
    task_dir = os.path.abspath(task_dir)
    config_path = os.path.join(task_dir, "config.py")
    raw = _import_config(config_path)
    name = os.path.basename(os.path.normpath(task_dir))

    where = f"{config_path}: scheduler_config"
    if "scheduler_config" not in raw:
        raise ConfigError(
            f"{config_path}: config has no 'scheduler_config' (it needs at least "
            "'gpu', e.g. {'gpu': ['0']})"
        )
    if not isinstance(raw["scheduler_config"], dict):
        raise ConfigError(f"{where} must be a dict, got {type(raw['scheduler_config']).__name__}")
    sched = fill_and_check(raw["scheduler_config"], SCHEDULER_KEYS, where)
    gpus = _gpu_entries(sched["gpu"], where)
    for key in ("ignored_keys_for_folder_name", "ignored_characters_for_folder_name"):
        if not all(isinstance(item, str) for item in sched[key]):
            raise ConfigError(f"{where}: {key} = {sched[key]!r}, expected a list of strings")

    if results_dir is not None:
        if not results_dir.strip():
            raise ConfigError(
                "--results_dir is empty; give the folder the run folders go to "
                "(or leave the flag out for the task's own results folder)"
            )
        results_root = os.path.abspath(results_dir)
    elif sched["result_root_folder"] is not None:
        results_root = os.path.normpath(os.path.join(task_dir, sched["result_root_folder"]))
    else:
        results_root = os.path.join(DEFAULT_RESULTS_ROOT, name)

    global_config = raw.get("global_config", {})
    if not isinstance(global_config, dict):
        raise ConfigError(
            f"{config_path}: global_config must be a dict, got {type(global_config).__name__}"
        )
    # the plugins first: they may register metrics whose keys the global config sets
    where = f"{config_path}: global_config"
    check_value("plugins", global_config.get("plugins", ()), RUN_KEYS["plugins"], where)
    load_plugins(global_config.get("plugins", ()), where)
    for key in global_config:
        if key not in RUN_KEYS:
            raise ConfigError(unknown_key_message(key, RUN_KEYS, f"{config_path}: global_config"))

    runs = []
    for block, combo in expand_test_config(raw.get("test_config", [{}]), config_path):
        cfg = copy.deepcopy(global_config)
        cfg.update(combo)
        combo_text = ", ".join(f"{k}={v!r}" for k, v in combo.items())
        cfg = validate_run_config(
            cfg, where=f"{config_path}: test_config[{block}] run {{{combo_text}}}"
        )
        folder = folder_name(combo, sched)
        runs.append(Run(folder, os.path.join(results_root, folder), block, combo, cfg))
    _check_shared_folders(runs, config_path)
    task = Task(name, task_dir, config_path, sched, gpus, results_root, runs)
    check_gpu_entries(task)
    return task


def check_gpu_entries(task: Task, where: str | None = None) -> None:
    """Raise ConfigError unless every ``gpu`` entry lists at least ``num_gpus`` ids for every run.

    Each entry is the device set of one worker (``CUDA_VISIBLE_DEVICES`` of its runs), so a run
    with ``num_gpus`` = 2 needs entries such as ``["0", "1"]``. A run uses the first
    ``num_gpus`` devices of a longer entry, as the original did.
    """
    where = where or f"{task.config_path}: scheduler_config"
    for run in task.runs:
        n = run.config.num_gpus
        for i, entry in enumerate(task.gpus):
            k = len(entry.split(","))
            if k < n:
                example = [[str(j + n * w) for j in range(n)] for w in range(2)]
                raise ConfigError(
                    f"{where}: run {run.name} has num_gpus = {n} but gpu entry {i} ({entry!r}) "
                    f"lists {k} device id(s); each gpu entry is one worker's devices, so every "
                    f"entry must list num_gpus ids, e.g. 'gpu': {example} (or --gpu)"
                )


def parse_shard(spec: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``; ConfigError otherwise."""
    try:
        i_text, n_text = spec.split("/")
        i, n = int(i_text), int(n_text)
    except ValueError:
        raise ConfigError(
            f"--shard {spec!r}: expected i/n, e.g. 0/4 (this machine runs the "
            "runs whose index modulo n is i)"
        ) from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {spec!r}: expected i/n with n >= 1 and 0 <= i < n")
    return i, n


def shard_runs(runs: Sequence[Run], spec: str | None) -> list[Run]:
    """The runs of shard ``"i/n"``: distinct runs (task order) whose index % n == i.

    Every machine that expands the same task with the same ``--only`` sees the same order, so
    the shards 0/n .. n-1/n split the sweep into disjoint parts that cover it.
    """
    runs = distinct_runs(runs)
    if not spec:
        return runs
    i, n = parse_shard(spec)
    return [run for k, run in enumerate(runs) if k % n == i]


def _import_config(config_path: str) -> dict[str, Any]:
    if not os.path.isfile(config_path):
        raise ConfigError(f"{config_path}: no such file (a task folder needs a config.py)")
    module_name = "_bsn_task_config_" + str(abs(hash(config_path)))
    spec = importlib.util.spec_from_file_location(module_name, config_path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{config_path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:
        # Anything the user's file raises is a config error, also sys.exit() and a raised
        # KeyboardInterrupt (the file is read in milliseconds: a real Ctrl-C lands elsewhere).
        raise ConfigError(
            f"{config_path}: failed to import: {type(exc).__name__}: {exc}; a "
            "task's config.py should only define the dict 'config'"
        ) from exc
    raw = getattr(module, "config", None)
    if raw is None:
        raise ConfigError(f"{config_path}: defines no dict named 'config'")
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: 'config' must be a dict, got {type(raw).__name__}")
    for key in raw:
        if key not in ("scheduler_config", "global_config", "test_config"):
            raise ConfigError(
                f"{config_path}: unknown top-level key {key!r}; expected "
                "'scheduler_config', 'global_config', 'test_config'"
            )
    return raw


def _gpu_entries(entries: list[Any], where: str) -> list[str]:
    if not entries:
        raise ConfigError(f"{where}: gpu is empty; give at least one entry, e.g. ['0']")
    out = []
    for i, entry in enumerate(entries):
        ids = [entry] if isinstance(entry, str) else entry
        if isinstance(ids, list) and ids and all(isinstance(e, str) for e in ids):
            if not all(e.strip() for e in ids):
                raise ConfigError(
                    f"{where}: gpu[{i}] = {entry!r} holds an empty GPU id; "
                    "expected ids such as '0' or ['0', '1']"
                )
            out.append(",".join(e.strip() for e in ids))
        else:
            raise ConfigError(
                f"{where}: gpu[{i}] = {entry!r}, expected a GPU id string such "
                "as '0' or a list of them such as ['0', '1']"
            )
    return out


def expand_test_config(test_config: Any, config_path: str) -> list[tuple[int, dict[str, Any]]]:
    """Expand ``test_config`` (a list of dicts of value lists) into ``(block, combo)`` pairs.

    Each dict gives the cross product of its value lists, keys in the order written; the result
    is the union over the list, in order.
    """
    if not isinstance(test_config, (list, tuple)):
        raise ConfigError(
            f"{config_path}: test_config must be a list of dicts, got {type(test_config).__name__}"
        )
    if not test_config:
        raise ConfigError(
            f"{config_path}: test_config is empty, so the task has no runs; "
            "give at least one dict (e.g. [{'run': [0]}]) or leave test_config "
            "out for a single run of global_config"
        )
    out = []
    for block, inst in enumerate(test_config):
        where = f"{config_path}: test_config[{block}]"
        if not isinstance(inst, dict):
            raise ConfigError(f"{where} must be a dict of value lists, got {type(inst).__name__}")
        values = []
        for key, vals in inst.items():
            if key not in RUN_KEYS:
                raise ConfigError(unknown_key_message(key, RUN_KEYS, where))
            if isinstance(vals, (str, bytes, dict)) or not isinstance(vals, Iterable):
                raise ConfigError(
                    f"{where}: {key} = {vals!r}, expected a list of values (e.g. [{vals!r}])"
                )
            values.append(list(vals))
        keys = list(inst)
        out.extend(
            (block, dict(zip(keys, combo, strict=True))) for combo in itertools.product(*values)
        )
    return out


def folder_name(combo: Mapping[str, Any], scheduler_config: Mapping[str, Any]) -> str:
    """The result folder name of a test combo, as the original scheduler builds it."""
    maxlen = scheduler_config.get("config_string_value_maxlen", 30)
    indicator = scheduler_config.get("test_config_string_indicator", "-")
    separator = scheduler_config.get("test_config_string_separator", ",")
    ignored = scheduler_config.get("ignored_keys_for_folder_name", [])
    text = "".join(
        f"{key}{indicator}{str(combo[key])[:maxlen]}{separator}"
        for key in sorted(combo)
        if key not in ignored
    )
    for char in scheduler_config.get("ignored_characters_for_folder_name", [" ", "[", "]"]):
        text = text.replace(char, "")
    return text


def _check_shared_folders(runs: list[Run], config_path: str) -> None:
    first: dict[str, Run] = {}
    for run in runs:
        other = first.setdefault(run.run_dir, run)
        if other is not run and other.config != run.config:
            mine, theirs = run.config.to_dict(), other.config.to_dict()
            diff = sorted(k for k in mine if mine[k] != theirs[k])
            raise ConfigError(
                f"{config_path}: test_config[{other.block}] and test_config[{run.block}] both "
                f"give folder {run.name!r} but differ in {', '.join(diff)}; folder names must "
                "tell runs apart (check ignored_keys_for_folder_name and "
                "config_string_value_maxlen)"
            )


def distinct_runs(runs: Iterable[Run]) -> list[Run]:
    """``runs`` with one entry per result folder (first occurrence kept, order kept)."""
    seen: set[str] = set()
    out = []
    for run in runs:
        if run.run_dir not in seen:
            seen.add(run.run_dir)
            out.append(run)
    return out


# ---------------------------------------------------------------------------------------------
# --only and --set


def _as_assignments(value: str | Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return parse_assignments(value, where)
    return dict(value)


def _same_value(actual: Any, wanted: Any) -> bool:
    if str(actual) == str(wanted):
        return True
    numbers = (int, float)
    return (
        isinstance(actual, numbers)
        and isinstance(wanted, numbers)
        and not isinstance(actual, bool)
        and not isinstance(wanted, bool)
        and actual == wanted
    )


def filter_runs(
    runs: Sequence[Run], only: str | Mapping[str, Any] | None, where: str = "--only"
) -> list[Run]:
    """Keep the runs whose config matches every ``key=value`` of ``only``.

    Values match when their ``str`` forms are equal (or they are equal numbers, so ``scale=1``
    matches 1.0). Filters see the task's own values, before any ``--set`` override.
    """
    wanted = _as_assignments(only, where)
    for key in wanted:
        if key not in RUN_KEYS:
            raise ConfigError(unknown_key_message(key, RUN_KEYS, where))
    if not wanted:
        return list(runs)
    kept = [
        run for run in runs if all(_same_value(run.config.value(k), v) for k, v in wanted.items())
    ]
    if not kept:
        text = ",".join(f"{k}={v}" for k, v in wanted.items())
        present = "; ".join(
            f"{k} in {{{', '.join(dict.fromkeys(str(r.config.value(k)) for r in runs))}}}"
            for k in wanted
        )
        raise ConfigError(
            f"{where} {text}: no run of the task matches this filter (the task has {present})"
        )
    return kept


def apply_overrides(
    runs: Sequence[Run], overrides: str | Mapping[str, Any] | None, where: str = "--set"
) -> list[Run]:
    """Return ``runs`` with ``overrides`` written into every config (folder names unchanged)."""
    values = _as_assignments(overrides, where)
    for key, value in values.items():
        if key not in RUN_KEYS:
            raise ConfigError(unknown_key_message(key, RUN_KEYS, where))
        check_value(key, value, RUN_KEYS[key], where)
    if not values:
        return list(runs)
    text = ",".join(f"{k}={v!r}" for k, v in values.items())
    out = []
    for run in runs:
        cfg = run.config.replace(where=f"{where} {text}: run {run.name}", **copy.deepcopy(values))
        out.append(replace(run, config=cfg))
    return out


def select_runs(
    task: Task,
    only: str | Mapping[str, Any] | None = None,
    overrides: str | Mapping[str, Any] | None = None,
) -> Task:
    """A copy of ``task`` whose runs are filtered by ``only`` then changed by ``overrides``."""
    runs = apply_overrides(filter_runs(task.runs, only), overrides)
    out = replace(task, runs=runs)
    check_gpu_entries(out, where="the runs as selected (--only, --set, --gpu)")
    return out


def with_gpu_entries(task: Task, text: str) -> Task:
    """A copy of ``task`` whose workers are the ``gpu`` entries of ``text`` (the ``--gpu`` flag),
    written as in scheduler_config: ``"['0', '1']"`` (two one-GPU workers) or
    ``"[['0', '1']]"`` (one worker with two GPUs). ``select_runs`` checks them against
    ``num_gpus``."""
    where = f"--gpu {text}"
    try:
        entries = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ConfigError(
            f"{where}: expected a list such as \"['0', '1']\" or \"[['0', '1']]\""
        ) from None
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: expected a list such as \"['0', '1']\"")
    return replace(task, gpus=_gpu_entries(entries, where))


def run_state(run: Run) -> str:
    """``completed``, ``partial`` (folder exists without COMPLETED) or ``new``; reads only."""
    if os.path.exists(os.path.join(run.run_dir, COMPLETED_FILE)):
        return "completed"
    if os.path.isdir(run.run_dir) and any(n != LOCK_FILE for n in os.listdir(run.run_dir)):
        return "partial"
    return "new"
