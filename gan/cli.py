"""The command line, ``python main.py [COMMAND] [arguments] [flags]``: one table of commands.

Without a command word it trains a task folder (a path, or a name under ``tasks/``; default
``tasks/quickstart``); ``report``, ``sample``, ``evaluate``, ``fid_stats``, ``export``,
``submit`` and ``status`` are the other rows of :data:`COMMANDS` (``python main.py COMMAND
--help`` shows one command's usage and flags). Each task folder's own ``main.py`` calls
:func:`main_for_task`, so ``python main.py`` inside a task folder does the same as naming that
folder here.

Every command shares the same handling: the flags are parsed once; a flag of this CLI that the
command does not read is refused; a :class:`gan.errors.UserError` becomes one ``error:`` line and
exit 2 (anything else is a bug and keeps its traceback); a command that imports TensorFlow gets
it without TensorFlow's C++ start-up lines on the console unless ``--tf_log`` is given.
``import gan.cli`` does not import TensorFlow (training's console and ``report`` never do).

To add a command:

1. write its work as a function ``(args: Sequence[str]) -> int`` taking the positional arguments
   and reading its flags from ``absl.flags.FLAGS`` (``gan/commands.py`` holds the existing ones;
   a new package may hold its own), raising a ``UserError`` for bad input; import TensorFlow
   only inside it;
2. define any new flag below (reuse an existing one when it means the same);
3. add a :class:`Command` row to :data:`COMMANDS`: its word, usage line, summary, function, the
   flags it reads, whether it imports TensorFlow, and whether a task folder's ``main.py`` hands
   it the task folder.
"""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from absl import app, flags

from gan import commands
from gan.cluster import commands as cluster
from gan.errors import UserError, error_line
from gan.metrics import names
from gan.report import ReportOptions
from gan.run_folder import EXIT_BAD_INPUT

FLAGS = flags.FLAGS

# Training (and report, where it selects and places runs).
flags.DEFINE_bool(
    "dry_run", False, "List the runs (folder name and path) and exit; creates nothing."
)
flags.DEFINE_string(
    "only",
    "",
    "Run only the runs whose config matches every key=value, e.g. "
    "dataset=cifar10,sn_mode=BSN,scale=1.0,run=0 (matched against the task's "
    "own values).",
)
flags.DEFINE_string(
    "set",
    "",
    "Override keys of every run's config, e.g. "
    "iteration=1000,metric_freq=500; folder names do not change.",
)
flags.DEFINE_string(
    "results_dir",
    None,
    "Put the run folders here instead of the task's result_root_folder or results/<task>.",
)
flags.DEFINE_bool(
    "force_rerun",
    False,
    "Rerun runs that already completed, deleting only "
    "the files those runs wrote (gan/run_folder.py's list; anything else in the "
    "folder stays). A run that did not complete is never cleared: it resumes "
    "from its checkpoint.",
)
flags.DEFINE_string(
    "gpu",
    "",
    "Replace the task's gpu entries (one worker each), in the "
    "config grammar: \"['0','1']\" two one-GPU workers, \"[['0','1']]\" one "
    "worker with two GPUs (for num_gpus=2).",
)
flags.DEFINE_string(
    "shard",
    "",
    "i/n: run only the runs whose index (in the task's order, "
    "after --only) modulo n is i, e.g. 0/4 .. 3/4 on four machines or as the "
    "index of a cluster job array.",
)
# The report (written by report, and after training).
flags.DEFINE_float(
    "report_fid_ratio",
    ReportOptions.fid_ratio,
    "report: a run diverged when an "
    "FID-like column ends above this many times its best value (and above best + "
    "--report_fid_margin).",
)
flags.DEFINE_float(
    "report_fid_margin",
    ReportOptions.fid_margin,
    "report: the absolute part of the FID-rise divergence rule.",
)
flags.DEFINE_integer(
    "report_ddof",
    ReportOptions.ddof,
    "report: delta degrees of freedom of the std over runs (0: population std, 1: sample std).",
    lower_bound=0,
)
flags.DEFINE_integer(
    "report_max_points",
    ReportOptions.max_points,
    "report: at most about this many points per event-file curve (TensorBoard scalars).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "report_workers",
    ReportOptions.workers,
    "report: processes parsing event files (0: up to 8 when the new event files exceed 64 MiB).",
    lower_bound=0,
)
flags.DEFINE_list(
    "report_higher_is_better",
    [],
    "report: metric columns whose best value is the maximum (overrides the rule by name).",
)
flags.DEFINE_list(
    "report_lower_is_better",
    [],
    "report: metric columns whose best value is the minimum (overrides the rule by name).",
)
# After training (docs/after-training.md).
flags.DEFINE_string(
    "checkpoint",
    "latest",
    "sample/evaluate/export: the checkpoint: latest, "
    "N (model-N, else the kept global_id-N), and for evaluate also kept or all.",
)
flags.DEFINE_string(
    "num",
    "",
    "sample: images to write (default 50000); fid_stats: 'all' "
    "(default) or a number of dataset images.",
)
flags.DEFINE_integer(
    "seed",
    None,
    "sample: latent seed (default 0); evaluate: sample seed "
    "(default: the run's seed, as training); fid_stats: subset seed (0).",
)
flags.DEFINE_string(
    "out",
    None,
    "sample: a .npz, .npy or a folder for PNGs; export: the "
    "folder to write; fid_stats: the file (default "
    "<data_root>/fid_stats/<dataset>-<graph>-<N>.npz).",
)
flags.DEFINE_bool("overwrite", False, "sample/export/fid_stats: replace an existing output.")
flags.DEFINE_integer("batch_size", 256, "sample: latents per generator call.", lower_bound=1)
flags.DEFINE_list(
    "metrics",
    None,
    "evaluate: metric names, e.g. inception_score,fid,kid,swd (default: the run's metrics).",
)
flags.DEFINE_string(
    "fid_reference",
    None,
    "evaluate: FID against these statistics (a fid_stats or TTUR .npz with mu and sigma).",
)
flags.DEFINE_string(
    "inception_graph",
    None,
    "evaluate/fid_stats: the Inception graph file (default: as training finds it).",
)
flags.DEFINE_string(
    "images",
    None,
    "evaluate: score this image set (.npz, .npy or PNG folder) against --dataset instead of a run.",
)
flags.DEFINE_string("dataset", None, "fid_stats, evaluate --images: the dataset name.")
flags.DEFINE_string(
    "data_root", None, "fid_stats, evaluate --images: folder holding the datasets (default: data/)."
)
flags.DEFINE_bool(
    "tf_log",
    False,
    "Show TensorFlow's C++ log lines (start-up notices, CUDA "
    "probes) on the console; without it they are kept out.",
)


def define_count_flags() -> None:
    """Define ``evaluate``'s ``--<key>`` flag for each count key of the registered metrics
    (:func:`gan.metrics.names.count_flags`) that has none yet; its help is the key's meaning."""
    real = set(names.real_count_keys())
    for key, spec in names.metric_keys().items():
        if key in names.count_flags() and key not in FLAGS:
            note = " (another value than the run's draws a new real subset)" if key in real else ""
            flags.DEFINE_integer(key, None, f"evaluate: {spec.doc}{note}.")


define_count_flags()

_TRAIN_PLACE = ("only", "results_dir")
_REPORT = (
    "report_fid_ratio",
    "report_fid_margin",
    "report_ddof",
    "report_max_points",
    "report_workers",
    "report_higher_is_better",
    "report_lower_is_better",
)


def _always(args: Sequence[str]) -> bool:
    del args
    return True


def _when_alone(args: Sequence[str]) -> bool:
    return not args and not FLAGS.images


@dataclass(frozen=True)
class Command:
    """One row of the command table."""

    name: str  # the word after main.py; "" for training (no word)
    usage: str
    summary: str
    run: Callable[[Sequence[str]], int]  # positional arguments -> exit code
    flags: tuple[str, ...]  # the flags it reads; any other flag of this CLI is refused
    tensorflow: bool = False  # imports TensorFlow (its C++ start-up lines are kept quiet)
    # In a task folder's main.py: whether to hand the command that folder as its first argument.
    takes_task: Callable[[Sequence[str]], bool] | None = None
    counts: bool = False  # also reads the registered metrics' count flags (evaluate)

    @property
    def title(self) -> str:
        return self.name or "training"


TRAIN = Command(
    "",
    "python main.py [TASK] [flags]",
    "Train the runs of a task folder (a path or a name under tasks/; default tasks/quickstart) "
    "with the scheduler, then print the report summary; --dry_run lists the runs instead.",
    commands.train,
    ("dry_run", *_TRAIN_PLACE, "set", "force_rerun", "gpu", "shard", *_REPORT),
    takes_task=_always,
)

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "report",
            "python main.py report [TASK] [flags]",
            "Write the task's report (tables, figures, failures; docs/report.md) into "
            "<results root>/report/ and print its summary.",
            commands.report,
            (*_TRAIN_PLACE, *_REPORT),
            takes_task=_always,
        ),
        Command(
            "sample",
            "python main.py sample RUN_DIR [--out PATH] [--num N] [--seed S] [--checkpoint C]",
            "Write generator samples of a run (docs/after-training.md).",
            commands.sample,
            ("checkpoint", "num", "seed", "out", "overwrite", "batch_size"),
            tensorflow=True,
        ),
        Command(
            "evaluate",
            "python main.py evaluate RUN_DIR|TASK [flags], or evaluate --images "
            "FILE --dataset NAME",
            "Compute metrics of a run's checkpoints, of a task's runs, or of an image set "
            "(docs/after-training.md).",
            commands.evaluate,
            (
                "checkpoint",
                "seed",
                "metrics",
                "fid_reference",
                "inception_graph",
                "images",
                "dataset",
                "data_root",
                "only",
                "shard",
                "results_dir",
            ),
            tensorflow=True,
            takes_task=_when_alone,
            counts=True,
        ),
        Command(
            "fid_stats",
            "python main.py fid_stats --dataset NAME [--num all|N] [--out FILE]",
            "Write a dataset's FID reference statistics (docs/after-training.md).",
            commands.fid_stats,
            ("num", "seed", "out", "overwrite", "inception_graph", "dataset", "data_root"),
            tensorflow=True,
        ),
        Command(
            "export",
            "python main.py export RUN_DIR --out DIR [--checkpoint C]",
            "Export a run's generator as a SavedModel folder (docs/after-training.md).",
            commands.export,
            ("checkpoint", "out", "overwrite"),
            tensorflow=True,
        ),
        Command(
            "submit",
            "python main.py submit [TASK] [Slurm flags]",
            "Submit the task's runs that have not completed as one Slurm job array "
            "(docs/cluster.md); --dry_run prints the batch script and the sbatch command.",
            lambda args: cluster.submit_command(args, commands.resolve_task_dir),
            ("dry_run", *_TRAIN_PLACE, "set", *cluster.SUBMIT_FLAGS),
            takes_task=_always,
        ),
        Command(
            "status",
            "python main.py status [TASK] [--only ...] [--results_dir DIR]",
            "Count the task's runs by state, list those that need a resubmit and the Slurm "
            "jobs submitted for it (docs/cluster.md); reads status.json files only.",
            lambda args: cluster.status_command(args, commands.resolve_task_dir),
            _TRAIN_PLACE,
            takes_task=_always,
        ),
    )
}

_HELP = ("--help", "-h", "-?", "--helpshort")


def _command(args: Sequence[str]) -> tuple[Command, list[str]]:
    """The row named by ``args`` (program name first) and its positional arguments."""
    if len(args) > 1 and args[1] in COMMANDS:
        return COMMANDS[args[1]], list(args[2:])
    return TRAIN, list(args[1:])


def _refuse_mistyped_command(word: str) -> None:
    """A UserError when ``word``, given where a task folder or a command word goes, is no task
    folder but close to a command word (``smaple``)."""
    if os.path.exists(word) or os.path.isdir(os.path.join(commands.TASKS_DIR, word)):
        return
    close = difflib.get_close_matches(word, COMMANDS, n=1)
    if close:
        raise UserError(f"unknown command {word!r}; did you mean {close[0]!r}?")


def own_flags(command: Command) -> tuple[str, ...]:
    """The flags ``command`` reads: its row's, the metrics' count flags when it reads them, and
    ``--tf_log`` when it imports TensorFlow."""
    counts = tuple(names.count_flags()) if command.counts else ()
    return (*command.flags, *counts, *(("tf_log",) if command.tensorflow else ()))


def help_text(command: Command) -> str:
    """The ``--help`` of one command: its usage, summary and only its own flags."""
    lines = [f"usage: {command.usage}", "", *textwrap.wrap(command.summary, 100), "", "flags:"]
    for name in sorted(own_flags(command)):
        flag = FLAGS[name]
        lines += textwrap.wrap(
            f"--{name}: {flag.help}", 100, initial_indent="  ", subsequent_indent="    "
        )
        lines.append(f"    (default: {flag.default_as_str})")
    if command is TRAIN:
        lines += ["", f"commands: {', '.join(COMMANDS)} (python main.py COMMAND --help)"]
    return "\n".join(lines)


def _check_flags(command: Command) -> None:
    """Refuse a flag of this CLI that ``command`` does not read."""
    ours = {
        flag.name
        for module in (__name__, cluster.__name__)
        for flag in FLAGS.get_flags_for_module(module)
    }
    unused = sorted(n for n in ours - set(own_flags(command)) if FLAGS[n].present)
    if unused:
        raise UserError(f"{', '.join('--' + n for n in unused)}: not used by {command.title}")


def quiet_tensorflow() -> None:
    """Import TensorFlow without its C++ start-up lines on the console.

    ``TF_CPP_MIN_LOG_LEVEL`` 3 (unless the environment sets it) keeps its later C++ log lines
    (e.g. the cuInit error of a machine without a GPU) out; the start-up lines (the oneDNN
    notice, "Could not find cuda drivers") are written before that setting is read, so stderr
    is held in a temporary file during the import and shown only if the import fails.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow  # noqa: F401  (TensorFlow: imported here, with stderr held)
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _parse(argv: Sequence[str]) -> list[str] | int:
    """Parse ``argv`` into ``FLAGS``; returns the positional arguments, or the exit code when
    it printed a command's help (0) or a flag error (2)."""
    asked = any(arg in _HELP for arg in argv[1:])
    define_count_flags()  # a metric registered since this module was imported
    try:
        args = FLAGS([arg for arg in argv if arg not in _HELP])
    except flags.Error as exc:
        if not asked:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        args = [arg for arg in argv if not arg.startswith("-")]
    if asked:
        print(help_text(_command(args)[0]))
        return 0
    return args


def _run(args: Sequence[str], task_dir: str | None = None) -> int:
    """Run the command named by the parsed ``args`` (program name first); with ``task_dir``,
    as a task folder's ``main.py``."""
    command, rest = _command(args)
    if task_dir is not None and command.takes_task and command.takes_task(rest):
        rest = [task_dir, *rest]
    try:
        if command is TRAIN and rest and task_dir is None:
            _refuse_mistyped_command(rest[0])
        _check_flags(command)
        if command.tensorflow and not FLAGS.tf_log:
            quiet_tensorflow()
        return command.run(rest)
    except UserError as exc:  # anything else is a bug and keeps its traceback
        print(error_line(exc), file=sys.stderr)
        return EXIT_BAD_INPUT


def run_cli(argv: Sequence[str], task_dir: str | None = None) -> int:
    """Parse ``argv`` (program name first) and run it in this process; returns the exit code."""
    FLAGS.unparse_flags()
    parsed = _parse(argv)
    return parsed if isinstance(parsed, int) else _run(parsed, task_dir)


def _flags_parser(argv: list[str]) -> list[str]:
    parsed = _parse(argv)
    if isinstance(parsed, int):
        sys.exit(parsed)
    return parsed


def _app_run(run: Callable[[list[str]], int]) -> None:
    try:
        app.run(run, flags_parser=_flags_parser)
    except BrokenPipeError:  # the output's reader stopped early (``| head``): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def main_for_task(task_dir: str) -> None:
    """Entry point of a task folder's ``main.py``: this CLI with ``task_dir`` as the task."""
    _app_run(lambda args: _run(args, task_dir))


def main() -> None:
    """Entry point of ``python main.py`` and of the installed console script."""
    _app_run(_run)


if __name__ == "__main__":
    main()
