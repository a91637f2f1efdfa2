"""Run (or list) the runs of a task folder: ``python main.py [task folder] [flags]``.

The task folder is a path, or a name under ``tasks/`` (``python main.py no_gamma-CNN``); without
one it is ``tasks/quickstart``. Each task folder's own ``main.py`` calls :func:`main_for_task`,
so ``python main.py`` inside a task folder does the same as naming that folder here.

``python main.py report [task folder]`` writes the task's report (tables, figures, failures;
see ``gan/report/``) into ``<results root>/report/``; a training invocation prints the same
summary when its scheduler returns.

After training (``gan/commands.py``, docs/after-training.md): ``python main.py sample RUN_DIR``,
``evaluate RUN_DIR|TASK``, ``fid_stats --dataset NAME`` and ``export RUN_DIR --out DIR``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from absl import app, flags, logging

from gan import commands
from gan.config import REPO_ROOT, ConfigError
from gan.errors import UserError, error_line
from gan.preflight import data_problems
from gan.progress import where_to_look
from gan.report import ReportOptions, summary_text, write_report
from gan.run_folder import remove_temporaries
from gan.scheduler import Scheduler
from gan.tasks import (
    Task,
    load_task,
    run_state,
    select_runs,
    shard_runs,
    with_gpu_entries,
)

DEFAULT_TASK = "quickstart"
REPORT_COMMAND = "report"
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
flags.DEFINE_bool("force_rerun", False, "Rerun runs that already completed, deleting only "
                  "the files those runs wrote (gan/run_folder.py's list; anything else in the "
                  "folder stays). A run that did not complete is never cleared: it resumes "
                  "from its checkpoint.")
flags.DEFINE_float("report_fid_ratio", ReportOptions.fid_ratio, "report: a run diverged when an "
                   "FID-like column ends above this many times its best value (and above best + "
                   "--report_fid_margin).")
flags.DEFINE_float("report_fid_margin", ReportOptions.fid_margin, "report: the absolute part of "
                   "the FID-rise divergence rule.")
flags.DEFINE_integer("report_ddof", ReportOptions.ddof, "report: delta degrees of freedom of "
                     "the std over runs (0: population std, 1: sample std).", lower_bound=0)
flags.DEFINE_integer("report_max_points", ReportOptions.max_points, "report: at most about "
                     "this many points per event-file curve (TensorBoard scalars).",
                     lower_bound=1)
flags.DEFINE_integer("report_workers", ReportOptions.workers, "report: processes parsing "
                     "event files (0: up to 8 when the new event files exceed 64 MiB).",
                     lower_bound=0)
flags.DEFINE_list("report_higher_is_better", [], "report: metric columns whose best value is "
                  "the maximum (overrides the rule by name).")
flags.DEFINE_list("report_lower_is_better", [], "report: metric columns whose best value is "
                  "the minimum (overrides the rule by name).")
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
        if force_rerun and state == "completed":
            state += ", rerun"
        print(f"{run.name}  {run.run_dir}  ({state})")
    shared = len(task.runs) - len(runs)
    note = (f" ({shared} of them repeat an earlier run's folder and config)" if shared else "")
    print(f"{task.name}: {len(task.runs)} runs in {len(runs)} folders{note} under "
          f"{task.results_root}")
    # Planning on a machine without the data is fine: data problems are warnings here and
    # stop a real start (exit 2) before anything is created.
    for problem in data_problems(runs):
        print(f"warning: {problem}", file=sys.stderr)


def report_options() -> ReportOptions:
    """The report settings given by the ``--report_*`` flags."""
    return ReportOptions(fid_ratio=FLAGS.report_fid_ratio, fid_margin=FLAGS.report_fid_margin,
                         ddof=FLAGS.report_ddof, max_points=FLAGS.report_max_points,
                         workers=FLAGS.report_workers,
                         higher_is_better=tuple(FLAGS.report_higher_is_better),
                         lower_is_better=tuple(FLAGS.report_lower_is_better))


def _report(args: Sequence[str]) -> int:
    """``main.py report [task folder]``: write the task's report and print its summary."""
    if len(args) > 1:
        raise ConfigError(f"report takes at most one task folder, got {' '.join(args)}")
    unused = [name for name, given in (("--dry_run", FLAGS.dry_run), ("--set", FLAGS["set"].value),
                                       ("--force_rerun", FLAGS.force_rerun)) if given]
    if unused:
        raise ConfigError(f"{', '.join(unused)}: not used by report (it only reads the runs)")
    task = load_task(resolve_task_dir(args[0] if args else None), results_dir=FLAGS.results_dir)
    task = select_runs(task, only=FLAGS.only)
    try:
        summary = write_report(task, options=report_options(), selection=FLAGS.only or None)
    except OSError as exc:
        remove_temporaries(os.path.join(task.results_root, "report"), os.getpid())
        print(f"error: cannot write the report: {exc}", file=sys.stderr)
        return 1
    print(summary_text(summary))
    return 0


def _report_after_training(task: Task) -> str | None:
    """Print the report summary after a scheduler run; returns the report folder, or None
    when it could not be written (only a warning)."""
    try:
        summary = write_report(task, options=report_options(), selection=FLAGS.only or None)
        print(summary_text(summary), flush=True)
        return os.path.dirname(os.path.abspath(summary.markdown_path))
    except Exception as exc:  # never turn a finished training into an error
        logging.warning("could not write the report of %s: %s: %s", task.name,
                        type(exc).__name__, exc)
        remove_temporaries(os.path.join(task.results_root, "report"), os.getpid())
        return None


def _task_run_dirs(arg: str) -> list[str]:
    """The run folders of the task ``arg``, after ``--only`` and ``--shard``."""
    task = select_runs(load_task(resolve_task_dir(arg), results_dir=FLAGS.results_dir),
                       only=FLAGS.only)
    runs = shard_runs(task.runs, FLAGS.shard) if FLAGS.shard else task.runs
    return list(dict.fromkeys(run.run_dir for run in runs))


def _after_training(command: str, args: Sequence[str]) -> int:
    """``sample``, ``evaluate``, ``fid_stats`` or ``export`` (see ``gan/commands.py``)."""
    if command == commands.EVALUATE:
        return commands.evaluate_command(args, _task_run_dirs)
    return {commands.SAMPLE: commands.sample_command,
            commands.FID_STATS: commands.fid_stats_command,
            commands.EXPORT: commands.export_command}[command](args)


def _main(args: Sequence[str]) -> int:
    """Run the task named by ``args`` (program name, then at most one task folder), or
    ``report`` and a task folder, or an after-training command."""
    try:
        if len(args) > 1 and args[1] in commands.COMMANDS:
            return _after_training(args[1], args[2:])
        if len(args) > 1 and args[1] == REPORT_COMMAND:
            return _report(args[2:])
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
        code = Scheduler(task, force_rerun=force_rerun).start()
        if code < 128:  # not stopped by a signal: report what the runs wrote
            report_dir = _report_after_training(task)
            runs = [(run.name, run.run_dir) for run in task.distinct_runs()]
            print(where_to_look(runs, report_dir), flush=True)
        return code
    except UserError as exc:  # anything else is a bug and keeps its traceback
        print(error_line(exc), file=sys.stderr)
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
    def task_main(argv: list[str]) -> int:
        if len(argv) > 1 and argv[1] == REPORT_COMMAND:  # python main.py report, in the folder
            return _main([argv[0], REPORT_COMMAND, task_dir, *argv[2:]])
        if len(argv) > 1 and argv[1] in commands.COMMANDS:  # evaluate alone: this task's runs
            alone = argv[1] == commands.EVALUATE and len(argv) == 2 and not FLAGS.images
            return _main([argv[0], argv[1], *([task_dir] if alone else argv[2:])])
        return _main([argv[0], task_dir, *argv[1:]])

    app.run(task_main, flags_parser=_parse_flags)


def main() -> None:
    """Entry point of ``python main.py`` and of the installed console script."""
    app.run(_main, flags_parser=_parse_flags)


if __name__ == "__main__":
    main()
