"""Run (or list) the runs of a task folder: ``python main.py [task folder] [flags]``.

The task folder is a path, or a name under ``tasks/`` (``python main.py no_gamma-CNN``); without
one it is ``tasks/quickstart``. Each task folder's own ``main.py`` calls :func:`main_for_task`,
so ``python main.py`` inside a task folder does the same as naming that folder here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from absl import app, flags

from gan.config import REPO_ROOT, ConfigError
from gan.scheduler import (
    Scheduler,
    Task,
    load_task,
    run_state,
    select_runs,
    shard_runs,
    with_gpu_entries,
)

DEFAULT_TASK = "quickstart"
TASKS_DIR = os.path.join(REPO_ROOT, "tasks")
EXIT_CONFIG_ERROR = 2

FLAGS = flags.FLAGS
flags.DEFINE_bool("dry_run", False, "List the runs (folder name and path) and exit; creates "
                  "nothing.")
flags.DEFINE_string("only", "", "Run only the runs whose config matches every key=value, e.g. "
                    "dataset=cifar10,sn_mode=BSN,scale=1.0,run=0 (matched against the task's "
                    "own values).")
flags.DEFINE_string("set", "", "Override keys of every run's config, e.g. "
                    "iteration=1000,metric_freq=500; folder names do not change.")
flags.DEFINE_string("results_dir", None, "Put the run folders here instead of the task's "
                    "result_root_folder or results/<task>.")
flags.DEFINE_bool("force_rerun", False, "Delete and rerun runs that already completed.")
flags.DEFINE_string("gpu", "", "Replace the task's gpu entries (one worker each), in the "
                    "config grammar: \"['0','1']\" two one-GPU workers, \"[['0','1']]\" one "
                    "worker with two GPUs (for num_gpus=2).")
flags.DEFINE_string("shard", "", "i/n: run only the runs whose index (in the task's order, "
                    "after --only) modulo n is i, e.g. 0/4 .. 3/4 on four machines or as the "
                    "index of a cluster job array.")


def resolve_task_dir(arg: str | None) -> str:
    """The task folder for a command-line argument: a path, or a name under ``tasks/``."""
    name = DEFAULT_TASK if arg is None else arg
    candidates = [name] if arg is not None else []
    candidates.append(os.path.join(TASKS_DIR, name))
    for path in candidates:
        if os.path.isfile(path) and os.path.basename(path) == "config.py":
            path = os.path.dirname(path) or "."
        if os.path.isdir(path):
            return os.path.abspath(path)
    known = sorted(n for n in os.listdir(TASKS_DIR)
                   if os.path.isfile(os.path.join(TASKS_DIR, n, "config.py"))) \
        if os.path.isdir(TASKS_DIR) else []
    looked = " or ".join(os.path.abspath(p) for p in candidates)
    return _raise(f"task folder {name!r} not found (looked for {looked}); known tasks: "
                  f"{', '.join(known) or 'none'}")


def _raise(message: str) -> str:
    raise ConfigError(message)


def _dry_run(task: Task, force_rerun: bool) -> None:
    runs = task.distinct_runs()
    for run in runs:
        state = run_state(run)
        if force_rerun and state != "new":
            state += ", rerun"
        print(f"{run.name}  {run.run_dir}  ({state})")
    shared = len(task.runs) - len(runs)
    note = (f" ({shared} of them repeat an earlier run's folder and config)" if shared else "")
    print(f"{task.name}: {len(task.runs)} runs in {len(runs)} folders{note} under "
          f"{task.results_root}")


def _main(args: Sequence[str]) -> int:
    """Run the task named by ``args`` (program name, then at most one task folder)."""
    try:
        if len(args) > 2:
            raise ConfigError(f"expected at most one task folder, got {' '.join(args[1:])}")
        task_dir = resolve_task_dir(args[1] if len(args) > 1 else None)
        task = load_task(task_dir, results_dir=FLAGS.results_dir)
        if FLAGS.gpu:
            task = with_gpu_entries(task, FLAGS.gpu)
        task = select_runs(task, only=FLAGS.only, overrides=FLAGS["set"].value)
        if FLAGS.shard:
            task = replace(task, runs=shard_runs(task.runs, FLAGS.shard))
        force_rerun = FLAGS.force_rerun or task.force_rerun
        if FLAGS.dry_run:
            _dry_run(task, force_rerun)
            return 0
        return Scheduler(task, force_rerun=force_rerun).start()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR


def _parse_flags(argv: Sequence[str]) -> list[str]:
    try:
        return FLAGS(list(argv))
    except flags.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG_ERROR)


def run_cli(argv: Sequence[str]) -> int:
    """Parse ``argv`` (program name first) and run it in this process; returns the exit code."""
    FLAGS.unparse_flags()
    try:
        args = FLAGS(list(argv))
    except flags.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return _main(args)


def main_for_task(task_dir: str) -> None:
    """Entry point of a task folder's ``main.py``: this CLI with ``task_dir`` as the task."""
    app.run(lambda argv: _main([argv[0], task_dir, *argv[1:]]), flags_parser=_parse_flags)


if __name__ == "__main__":
    app.run(_main, flags_parser=_parse_flags)
