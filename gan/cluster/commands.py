"""The ``submit`` and ``status`` commands of ``main.py``: their flags and argument checks.

``python main.py submit <task> [--only ...] [--set ...] [--results_dir DIR] [Slurm flags]``
submits the task's unfinished runs as one Slurm job array (``--dry_run``: print the batch
script and the sbatch command instead); ``python main.py status <task>`` prints the runs'
states, the runs that need a resubmit and the submitted jobs. The shared flags (``--only``,
``--set``, ``--results_dir``, ``--dry_run``) are the training command's (``gan/cli.py``).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

from absl import flags

from gan.cluster.slurm import SlurmOptions, batch_script, plan_submission, submit
from gan.cluster.status import status_text, task_status
from gan.config import ConfigError
from gan.preflight import check_runs, data_problems
from gan.run_folder import lock_held
from gan.tasks import Task, apply_overrides, filter_runs, load_task, select_runs

SUBMIT, STATUS = "submit", "status"
# The flags only submit reads (besides the training command's --dry_run, --only, --set and
# --results_dir); gan/cli.py's command table lists them.
SUBMIT_FLAGS = (
    "partition",
    "account",
    "time_limit",
    "gpus_per_element",
    "cpus_per_element",
    "mem",
    "throttle",
    "pack",
    "signal_before",
    "sbatch_args",
    "slurm_log_dir",
)

FLAGS = flags.FLAGS
flags.DEFINE_string("partition", None, "submit: the Slurm partition (sbatch --partition).")
flags.DEFINE_string("account", None, "submit: the Slurm account (sbatch --account).")
flags.DEFINE_string(
    "time_limit",
    None,
    "submit: each element's time limit (sbatch --time), "
    "e.g. 48:00:00; a run still going then checkpoints and its element is "
    "requeued.",
)
flags.DEFINE_integer(
    "gpus_per_element",
    1,
    "submit: GPUs of each array element (sbatch --gres=gpu:N; 0 for CPU only).",
    lower_bound=0,
)
flags.DEFINE_integer(
    "cpus_per_element",
    8,
    "submit: CPUs of each array element (sbatch --cpus-per-task).",
    lower_bound=1,
)
flags.DEFINE_string("mem", None, "submit: memory of each array element (sbatch --mem), e.g. 32G.")
flags.DEFINE_integer(
    "throttle",
    0,
    "submit: at most this many elements at once (sbatch --array=...%N; 0: no limit).",
    lower_bound=0,
)
flags.DEFINE_integer(
    "pack",
    1,
    "submit: runs per array element, trained side by side on its GPU(s) (memory growth is on).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "signal_before",
    120,
    "submit: seconds before the time limit each element "
    "gets SIGTERM to checkpoint (sbatch --signal=B:TERM@N).",
    lower_bound=1,
)
flags.DEFINE_string(
    "sbatch_args",
    "",
    "submit: more sbatch options, one string, e.g. "
    '"--qos=high --constraint=a100" (each becomes an #SBATCH line).',
)
flags.DEFINE_string(
    "slurm_log_dir",
    None,
    "submit: folder of the elements' Slurm logs (default <results root>/slurm/logs).",
)


def _task(
    command: str,
    args: Sequence[str],
    resolve_task_dir: Callable[[str | None], str],
    overrides: bool,
) -> Task:
    if len(args) > 1:
        raise ConfigError(f"{command} takes at most one task folder, got {' '.join(args)}")
    # Flags the command does not read were refused by gan/cli.py's command table.
    task = load_task(resolve_task_dir(args[0] if args else None), results_dir=FLAGS.results_dir)
    if not overrides:
        return select_runs(task, only=FLAGS.only)
    # The task's gpu entries do not apply: each element's devices are Slurm's
    # (plan_submission checks num_gpus against --gpus_per_element).
    runs = apply_overrides(filter_runs(task.runs, FLAGS.only), FLAGS["set"].value)
    return replace(task, runs=runs)


def slurm_options() -> SlurmOptions:
    """The :class:`~gan.cluster.slurm.SlurmOptions` given by the submit flags."""
    try:
        extra = tuple(shlex.split(FLAGS.sbatch_args))
    except ValueError as exc:
        raise ConfigError(f"--sbatch_args {FLAGS.sbatch_args!r}: {exc}") from None
    return SlurmOptions(
        partition=FLAGS.partition,
        account=FLAGS.account,
        time_limit=FLAGS.time_limit,
        gpus_per_element=FLAGS.gpus_per_element,
        cpus_per_element=FLAGS.cpus_per_element,
        mem=FLAGS.mem,
        throttle=FLAGS.throttle,
        pack=FLAGS.pack,
        signal_before=FLAGS.signal_before,
        sbatch_args=extra,
        log_dir=FLAGS.slurm_log_dir,
    )


def submit_command(args: Sequence[str], resolve_task_dir: Callable[[str | None], str]) -> int:
    """``main.py submit [task]``: submit (or with --dry_run print) the task's job array."""
    task = _task(SUBMIT, args, resolve_task_dir, overrides=True)
    sub = plan_submission(task, slurm_options(), is_running=lock_held)
    done = sum(1 for _, why in sub.skipped if why == "completed")
    running = [run.name for run, why in sub.skipped if why != "completed"]
    if done:
        print(f"{done} completed runs left out")
    if running:
        print(f"{len(running)} runs left out, running elsewhere: {', '.join(running)}")
    if not sub.elements:
        print(f"{task.name}: nothing to submit")
        return 0
    if FLAGS.dry_run:  # planning on a machine without the data: warnings only
        for problem in data_problems(sub.runs):
            print(f"warning: {problem}", file=sys.stderr)
        print(f"# {sub.script_path} (not written: --dry_run)")
        print(batch_script(sub), end="")
        print(
            f"# {len(sub.runs)} runs in {len(sub.elements)} elements; the plan would go to "
            f"{sub.plan_path}"
        )
        print(shlex.join(sub.sbatch_command()))
        return 0
    check_runs(sub.runs)
    job = submit(sub)
    print(
        f"submitted job array {job} ({sub.job_name}): {len(sub.runs)} runs in "
        f"{len(sub.elements)} elements; script {sub.script_path}, logs in {sub.log_dir}"
    )
    print(
        f"follow it with: python main.py status {task.task_dir}"
        + (f" --results_dir {task.results_root}" if FLAGS.results_dir else "")
    )
    return 0


def status_command(args: Sequence[str], resolve_task_dir: Callable[[str | None], str]) -> int:
    """``main.py status [task]``: the runs by state, what needs a resubmit, the Slurm jobs."""
    print(status_text(task_status(_task(STATUS, args, resolve_task_dir, overrides=False))))
    return 0
