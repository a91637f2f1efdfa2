"""A task's unfinished runs as one Slurm job array: the plan, the ``sbatch`` script, the submit.

Each array element runs one run, or ``pack`` runs side by side on the element's GPU(s). The
plan (``<results root>/slurm/<job>-<time>.json``) holds every element's runs with their
validated configs, so an element runs exactly what was submitted even when the task's
``config.py`` changes later; the element's scheduler writes each ``config.json`` as it
launches the run, exactly as a local start does (a queued run's folder stays untouched, so it
reads "not started" until it starts). Submitted job ids are appended to
``<results root>/slurm/jobs.json`` for ``status``.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gan.config import REPO_ROOT, ConfigError
from gan.run_folder import COMPLETED_FILE, write_json_atomic
from gan.tasks import Run, Task

SLURM_DIR = "slurm"  # under the results root: scripts, plans, jobs.json, default log folder
JOBS_FILE = "jobs.json"
LOG_DIR = "logs"
ELEMENT_MODULE = "gan.cluster.element"


@dataclass(frozen=True)
class SlurmOptions:
    """What each array element asks Slurm for (the ``submit`` flags)."""

    partition: str | None = None
    account: str | None = None
    time_limit: str | None = None  # sbatch's --time, e.g. 48:00:00 or 2-00:00:00
    gpus_per_element: int = 1
    cpus_per_element: int = 8
    mem: str | None = None  # sbatch's --mem, e.g. 32G
    throttle: int = 0  # at most this many elements at once (0: no limit)
    pack: int = 1  # runs per element, side by side on its GPU(s)
    signal_before: int = 120  # seconds before the time limit the element gets SIGTERM
    sbatch_args: tuple[str, ...] = ()
    log_dir: str | None = None  # default <results root>/slurm/logs

    def check(self) -> None:
        """Raise ConfigError naming the first option out of range."""
        for name, low in (
            ("gpus_per_element", 0),
            ("cpus_per_element", 1),
            ("pack", 1),
            ("throttle", 0),
            ("signal_before", 1),
        ):
            value = getattr(self, name)
            if value < low:
                raise ConfigError(f"--{name} {value}: expected an integer >= {low}")


@dataclass
class Submission:
    """One job array ready to submit: its elements' runs, the script and where things go."""

    task: Task
    elements: list[list[Run]]
    options: SlurmOptions
    stamp: str
    skipped: list[tuple[Run, str]] = field(default_factory=list)

    @property
    def job_name(self) -> str:
        return f"bsn-{self.task.name}"

    @property
    def slurm_dir(self) -> str:
        return os.path.join(self.task.results_root, SLURM_DIR)

    @property
    def script_path(self) -> str:
        return os.path.join(self.slurm_dir, f"{self.job_name}-{self.stamp}.sh")

    @property
    def plan_path(self) -> str:
        return os.path.join(self.slurm_dir, f"{self.job_name}-{self.stamp}.json")

    @property
    def log_dir(self) -> str:
        return os.path.abspath(self.options.log_dir or os.path.join(self.slurm_dir, LOG_DIR))

    @property
    def runs(self) -> list[Run]:
        return [run for element in self.elements for run in element]

    def sbatch_command(self) -> list[str]:
        return ["sbatch", "--parsable", self.script_path]


def plan_submission(
    task: Task, options: SlurmOptions, is_running: Any = None, stamp: str | None = None
) -> Submission:
    """Group the task's runs that are not ``COMPLETED`` into elements of ``options.pack`` runs
    (task order). ``is_running(run_dir)`` (default: none is) leaves out runs that another
    process holds; those and the completed ones are listed in ``skipped``."""
    options.check()
    skipped: list[tuple[Run, str]] = []
    todo = []
    for run in task.distinct_runs():
        if os.path.exists(os.path.join(run.run_dir, COMPLETED_FILE)):
            skipped.append((run, "completed"))
        elif is_running is not None and is_running(run.run_dir):
            skipped.append((run, "running (its .lock is held)"))
        else:
            todo.append(run)
    devices = max(options.gpus_per_element, 1)
    for run in todo:
        if run.config.num_gpus > devices:
            raise ConfigError(
                f"run {run.name} has num_gpus = {run.config.num_gpus} but each "
                f"element gets --gpus_per_element {options.gpus_per_element}; "
                f"give --gpus_per_element {run.config.num_gpus}"
            )
    elements = [todo[i : i + options.pack] for i in range(0, len(todo), options.pack)]
    # Microseconds: two submits of one task in the same second must not share a plan.
    stamp = stamp or datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return Submission(task, elements, options, stamp, skipped)


def batch_script(sub: Submission, python: str = sys.executable) -> str:
    """The ``sbatch`` script of ``sub``: one array element per group of runs, each running
    ``python -m gan.cluster.element <plan>`` from the repository (absolute paths only)."""
    opts = sub.options
    n = len(sub.elements)
    array = f"0-{n - 1}" + (f"%{opts.throttle}" if opts.throttle else "")
    directives = [
        f"--job-name={sub.job_name}",
        f"--array={array}",
        f"--output={os.path.join(sub.log_dir, '%x-%A_%a.out')}",
        "--open-mode=append",  # a requeued element appends to its log
        "--ntasks=1",
        f"--cpus-per-task={opts.cpus_per_element}",
    ]
    if opts.gpus_per_element:
        directives.append(f"--gres=gpu:{opts.gpus_per_element}")
    if opts.mem:
        directives.append(f"--mem={opts.mem}")
    if opts.time_limit:
        directives.append(f"--time={opts.time_limit}")
    if opts.partition:
        directives.append(f"--partition={opts.partition}")
    if opts.account:
        directives.append(f"--account={opts.account}")
    # SIGTERM to the element (B: the batch shell, which execs it) before the time limit: its
    # runs checkpoint and exit 75, and the element requeues itself.
    directives += [f"--signal=B:TERM@{opts.signal_before}", "--requeue"]
    directives += list(opts.sbatch_args)
    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH {_directive(d)}" for d in directives]
    lines.append(
        f"# {sub.task.name}: {len(sub.runs)} runs in {n} elements, results in "
        f"{sub.task.results_root}"
    )
    for i, element in enumerate(sub.elements):
        lines.append(f"# element {i}: {' '.join(run.name for run in element)}")
    lines += [
        f"cd {shlex.quote(REPO_ROOT)}",
        "# The element runs its runs with the local scheduler (.lock, status.json, exit codes)",
        "# and requeues itself when a signal interrupted one of them.",
        f"exec {shlex.quote(os.path.abspath(python))} -m {ELEMENT_MODULE} "
        f"{shlex.quote(sub.plan_path)}",
    ]
    return "\n".join(lines) + "\n"


def _directive(arg: str) -> str:
    """``arg`` as an ``#SBATCH`` line's option: a value holding spaces in double quotes."""
    if not any(c.isspace() for c in arg):
        return arg
    name, eq, value = arg.partition("=")
    return f'{name}="{value}"' if eq else f'"{arg}"'


def plan_json(sub: Submission) -> dict[str, Any]:
    """The plan file's content: what each element runs, and the task settings its scheduler
    needs (worker log name, scheduler log)."""
    return {
        "task": sub.task.name,
        "task_dir": sub.task.task_dir,
        "config_path": sub.task.config_path,
        "results_root": sub.task.results_root,
        "scheduler_config": sub.task.scheduler_config,
        "gpus_per_element": sub.options.gpus_per_element,
        "elements": [
            [
                {"name": run.name, "run_dir": run.run_dir, "config": run.config.to_dict()}
                for run in element
            ]
            for element in sub.elements
        ],
    }


def read_plan(path: str) -> dict[str, Any]:
    """The plan file written by ``submit``; ConfigError when it does not read."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the job array's plan ({exc})") from None


def read_jobs(results_root: str) -> list[dict[str, Any]]:
    """The job arrays submitted for a results root (``slurm/jobs.json``), oldest first."""
    try:
        with open(os.path.join(results_root, SLURM_DIR, JOBS_FILE)) as f:
            jobs = json.load(f)
    except (OSError, ValueError):
        return []
    return jobs if isinstance(jobs, list) else []


def submit(sub: Submission, sbatch: Sequence[str] | None = None) -> str:
    """Write the plan and the script, run ``sbatch``, record the job id; returns the job id.

    ConfigError when sbatch is missing or refuses the script (its message included).
    """
    try:
        os.makedirs(sub.log_dir, exist_ok=True)
        os.makedirs(sub.slurm_dir, exist_ok=True)
        with open(sub.script_path, "x") as f:  # never another submission's script
            f.write(batch_script(sub))
        write_json_atomic(sub.plan_path, plan_json(sub))
    except OSError as exc:
        raise ConfigError(
            f"cannot write the Slurm files under {sub.slurm_dir}: {exc}; choose "
            "another --results_dir or --slurm_log_dir"
        ) from None
    cmd = list(sbatch or sub.sbatch_command())
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ConfigError(
            f"{cmd[0]} not found: submit needs Slurm's sbatch on this machine "
            f"(the script is written: {sub.script_path})"
        ) from None
    if proc.returncode != 0:
        why = " ".join((proc.stderr or proc.stdout).split()) or f"exit code {proc.returncode}"
        raise ConfigError(f"sbatch refused {sub.script_path}: {why}")
    job_id = proc.stdout.strip().split(";")[0]
    record = {
        "job_id": job_id,
        "job_name": sub.job_name,
        "submitted": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "elements": len(sub.elements),
        "runs": len(sub.runs),
        "script": sub.script_path,
        "plan": sub.plan_path,
    }
    # Concurrent submits of one task append in turn (an exclusive lock on jobs.json.lock).
    fd = os.open(os.path.join(sub.slurm_dir, JOBS_FILE + ".lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        jobs = read_jobs(sub.task.results_root)
        write_json_atomic(os.path.join(sub.slurm_dir, JOBS_FILE), [*jobs, record])
    finally:
        os.close(fd)
    return job_id
