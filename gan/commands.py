"""What each command of ``main.py`` does; ``gan/cli.py``'s ``COMMANDS`` table names them.

Each function takes the command's positional arguments, reads its flags from ``FLAGS`` (defined
in ``gan/cli.py``) and returns the exit code; bad input raises a ``gan.errors.UserError``
(``gan/cli.py`` prints it as one ``error:`` line and exits 2). ``train`` and ``report`` read a
task folder; ``sample``, ``evaluate``, ``fid_stats`` and ``export`` read what a run left in its
folder (docs/after-training.md), their work done by ``gan.sample``, ``gan.evaluate``,
``gan.fid_stats`` and ``gan.export``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from absl import flags, logging

from gan.config import REPO_ROOT, ConfigError
from gan.evaluate import EvalSettings, evaluate_images, evaluate_run
from gan.export import export_run
from gan.generator_checkpoints import list_checkpoints
from gan.metrics.names import count_flags
from gan.preflight import data_problems
from gan.progress import where_to_look
from gan.report import ReportOptions, summary_text, write_report
from gan.run_folder import (
    is_run_folder,
    remove_temporaries,
    require_run_folder,
)
from gan.sample import DEFAULT_NUM, sample_run
from gan.scheduler import Scheduler
from gan.tasks import Task, load_task, run_state, select_runs, shard_runs, with_gpu_entries

DEFAULT_TASK = "quickstart"
TASKS_DIR = os.path.join(REPO_ROOT, "tasks")

FLAGS = flags.FLAGS


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
    known = (
        sorted(
            n
            for n in os.listdir(TASKS_DIR)
            if os.path.isfile(os.path.join(TASKS_DIR, n, "config.py"))
        )
        if os.path.isdir(TASKS_DIR)
        else []
    )
    looked = " or ".join(os.path.abspath(p) for p in candidates)
    raise ConfigError(
        f"task folder {name!r} not found (looked for {looked}); known tasks: "
        f"{', '.join(known) or 'none'}"
    )


def train(args: Sequence[str]) -> int:
    """Run the task folder ``args[0]`` (default ``tasks/quickstart``), or list its runs with
    ``--dry_run``; prints the report summary when the scheduler returns."""
    if len(args) > 1:
        raise ConfigError(f"expected at most one task folder, got {' '.join(args)}")
    task = load_task(resolve_task_dir(args[0] if args else None), results_dir=FLAGS.results_dir)
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


def _dry_run(task: Task, force_rerun: bool) -> None:
    runs = task.distinct_runs()
    for run in runs:
        state = run_state(run)
        if force_rerun and state == "completed":
            state += ", rerun"
        print(f"{run.name}  {run.run_dir}  ({state})")
    shared = len(task.runs) - len(runs)
    note = f" ({shared} of them repeat an earlier run's folder and config)" if shared else ""
    print(
        f"{task.name}: {len(task.runs)} runs in {len(runs)} folders{note} under {task.results_root}"
    )
    # Planning on a machine without the data is fine: data problems are warnings here and
    # stop a real start (exit 2) before anything is created.
    for problem in data_problems(runs):
        print(f"warning: {problem}", file=sys.stderr)


def report_options() -> ReportOptions:
    """The report settings given by the ``--report_*`` flags."""
    return ReportOptions(
        fid_ratio=FLAGS.report_fid_ratio,
        fid_margin=FLAGS.report_fid_margin,
        ddof=FLAGS.report_ddof,
        max_points=FLAGS.report_max_points,
        workers=FLAGS.report_workers,
        higher_is_better=tuple(FLAGS.report_higher_is_better),
        lower_is_better=tuple(FLAGS.report_lower_is_better),
    )


def report(args: Sequence[str]) -> int:
    """Write the report of the task folder ``args[0]`` and print its summary."""
    if len(args) > 1:
        raise ConfigError(f"report takes at most one task folder, got {' '.join(args)}")
    task = load_task(resolve_task_dir(args[0] if args else None), results_dir=FLAGS.results_dir)
    task = select_runs(task, only=FLAGS.only)
    try:
        summary = write_report(task, options=report_options(), selection=FLAGS.only or None)
    except OSError as exc:  # a user error like any other (gan/cli.py: one line, exit 2)
        folder = os.path.join(task.results_root, "report")
        remove_temporaries(folder, os.getpid())
        raise ConfigError(
            f"{folder}: cannot write the report ({exc}); free space there or make it writable"
        ) from None
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
        logging.warning(
            "could not write the report of %s: %s: %s", task.name, type(exc).__name__, exc
        )
        remove_temporaries(os.path.join(task.results_root, "report"), os.getpid())
        return None


def _one_arg(command: str, args: Sequence[str], what: str) -> str:
    if len(args) != 1:
        raise ConfigError(f"{command} takes one {what}, got {' '.join(args) if args else 'none'}")
    return args[0]


def _num(default: int) -> int:
    text = FLAGS.num.strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--num {text!r}: expected a number of images") from None


def sample(args: Sequence[str]) -> int:
    """Write generator samples of the run folder ``args[0]``."""
    run_dir = _one_arg("sample", args, "run folder")
    sample_run(
        run_dir,
        FLAGS.out or None,  # None: <run>/eval/samples.npz, created only after the checks
        num=_num(DEFAULT_NUM),
        seed=FLAGS.seed or 0,
        checkpoint=FLAGS.checkpoint,
        batch_size=FLAGS.batch_size,
        overwrite=FLAGS.overwrite,
    )
    return 0


def evaluate_settings() -> EvalSettings:
    """The ``EvalSettings`` given by the flags."""
    return EvalSettings(
        metrics=FLAGS.metrics,
        # each count flag replaces the run config's key of the same name
        counts={k: FLAGS[k].value for k in count_flags()},
        fid_reference=FLAGS.fid_reference,
        inception_graph=FLAGS.inception_graph,
        seed=FLAGS.seed,
        checkpoint=FLAGS.checkpoint,
    )


def _task_run_dirs(arg: str) -> list[str]:
    """The run folders of the task ``arg``, after ``--only`` and ``--shard``."""
    task = select_runs(
        load_task(resolve_task_dir(arg), results_dir=FLAGS.results_dir), only=FLAGS.only
    )
    runs = shard_runs(task.runs, FLAGS.shard) if FLAGS.shard else task.runs
    return list(dict.fromkeys(run.run_dir for run in runs))


def evaluate(args: Sequence[str]) -> int:
    """Evaluate the run folder or task ``args[0]``, or the image set ``--images``."""
    settings = evaluate_settings()
    if FLAGS.images:
        if args:
            raise ConfigError(f"evaluate --images takes no run or task, got {' '.join(args)}")
        if not FLAGS.dataset:
            raise ConfigError("evaluate --images needs --dataset (the real images to compare with)")
        evaluate_images(FLAGS.images, FLAGS.dataset, settings, FLAGS.data_root)
        return 0
    for name in ("dataset", "data_root"):
        if FLAGS[name].present:
            raise ConfigError(f"--{name}: used by evaluate --images only")
    target = _one_arg("evaluate", args, "run folder or task")
    if is_run_folder(target):
        for name in ("only", "shard"):
            if FLAGS[name].present:
                raise ConfigError(f"--{name}: selects runs of a task, not of one run folder")
        evaluate_run(target, settings)
        return 0
    if os.path.isdir(target) and not os.path.isfile(os.path.join(target, "config.py")):
        require_run_folder(target)  # says it is not a run folder
    run_dirs = _task_run_dirs(target)
    done = 0
    for run_dir in run_dirs:
        if not is_run_folder(run_dir) or not list_checkpoints(run_dir):
            print(f"{run_dir}: no checkpoint yet, skipped", flush=True)
            continue
        evaluate_run(run_dir, settings)
        done += 1
    print(f"evaluated {done} of {len(run_dirs)} runs", flush=True)
    return 0


def fid_stats(args: Sequence[str]) -> int:
    """Write the FID reference statistics of ``--dataset``."""
    # gan.fid_stats imports TensorFlow: imported here to keep `import gan.cli` TensorFlow-free.
    from gan.fid_stats import write_dataset_stats

    if args:
        raise ConfigError(f"fid_stats takes no positional argument, got {' '.join(args)}")
    if not FLAGS.dataset:
        raise ConfigError("fid_stats needs --dataset (e.g. cifar10)")
    write_dataset_stats(
        FLAGS.dataset,
        FLAGS.data_root,
        FLAGS.num or "all",
        FLAGS.seed or 0,
        FLAGS.inception_graph,
        FLAGS.out,
        FLAGS.overwrite,
    )
    return 0


def export(args: Sequence[str]) -> int:
    """Export the generator of the run folder ``args[0]`` to ``--out``."""
    run_dir = _one_arg("export", args, "run folder")
    if not FLAGS.out:
        raise ConfigError("export needs --out DIR (the folder to write)")
    export_run(run_dir, FLAGS.out, checkpoint=FLAGS.checkpoint, overwrite=FLAGS.overwrite)
    return 0
