"""One element of a submitted job array: ``python -m gan.cluster.element PLAN [INDEX]``.

The element (index ``SLURM_ARRAY_TASK_ID`` unless given) runs its runs of the plan written by
``submit`` with the local scheduler (:class:`gan.scheduler.Scheduler`): one worker per run on
the element's GPU(s), each run claimed by its ``.lock``, launched as ``python -m gan.run
--run_dir DIR``, recorded in ``status.json`` when it dies without saying. There is no second
mechanism: what the scheduler does locally, it does here.

Slurm's SIGTERM (the time-limit signal of ``--signal``, a preemption, ``scontrol requeue``)
reaches the scheduler, which forwards it to the runs; they checkpoint and exit 75. When a run
was interrupted so, the element asks Slurm to requeue it (``scontrol requeue``; when the
signal was Slurm's own requeue, the job is already requeued and that call changes nothing).
A run that failed with bad input (exit 2) is not retried by a requeue of the same element; a
new ``submit`` retries it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from gan.cluster.slurm import read_plan
from gan.config import ConfigError, validate_run_config
from gan.errors import UserError, error_line
from gan.run_folder import EXIT_BAD_INPUT, EXIT_INTERRUPTED, FAILED, read_status, slurm_job_id
from gan.scheduler import Scheduler
from gan.tasks import Run, Task


def element_task(plan: dict[str, Any], index: int, gpus: str) -> Task:
    """The task of element ``index``: its runs (configs as submitted), one worker per run, all
    on the device set ``gpus`` (the element's ``CUDA_VISIBLE_DEVICES``)."""
    elements = plan["elements"]
    if not 0 <= index < len(elements):
        raise ConfigError(f"element {index}: the plan has elements 0 to {len(elements) - 1}")
    runs = [
        Run(
            entry["name"],
            entry["run_dir"],
            0,
            {},
            validate_run_config(entry["config"], where=f"{entry['run_dir']} (plan)"),
        )
        for entry in elements[index]
    ]
    return Task(
        plan["task"],
        plan["task_dir"],
        plan["config_path"],
        plan["scheduler_config"],
        [gpus] * max(len(runs), 1),
        plan["results_root"],
        runs,
    )


def element_gpus(plan: dict[str, Any], environ: dict[str, str] | None = None) -> str:
    """The element's devices: Slurm's ``CUDA_VISIBLE_DEVICES``, else the first
    ``gpus_per_element`` ids, else none (a CPU element)."""
    env = os.environ if environ is None else environ
    if env.get("CUDA_VISIBLE_DEVICES") is not None:
        return env["CUDA_VISIBLE_DEVICES"]
    return ",".join(str(i) for i in range(int(plan.get("gpus_per_element", 0))))


def failed_in_this_job(run: Run, job: str | None) -> bool:
    """Whether ``run`` already failed with bad input in this Slurm job (an earlier start of
    this element, before a requeue)."""
    status = read_status(run.run_dir)
    return (
        job is not None
        and status is not None
        and status.state == FAILED
        and status.exit_code == EXIT_BAD_INPUT
        and status.slurm_job == job
    )


def requeue(job_id: str) -> None:
    """Ask Slurm to requeue this job (it sends the job SIGTERM: ignored here, we are done)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        proc = subprocess.run(
            ["scontrol", "requeue", job_id], capture_output=True, text=True, check=False
        )
        said = " ".join((proc.stderr or proc.stdout).split())
    except OSError as exc:  # no scontrol on this node: the runs stay interrupted
        said = f"not run ({exc}); resubmit the task to resume its runs"
    print(f"scontrol requeue {job_id}: " + (said or "requeued"), flush=True)


def run_element(plan_path: str, index: int, command: Sequence[str] | None = None) -> int:
    """Run element ``index`` of the plan; returns the scheduler's exit code (75 when the
    element was requeued)."""
    plan = read_plan(plan_path)
    task = element_task(plan, index, element_gpus(plan))
    job = slurm_job_id()
    kept = [run for run in task.runs if not failed_in_this_job(run, job)]
    for run in task.runs:
        if run not in kept:
            print(f"{run.name} failed with bad input earlier in job {job}: not retried", flush=True)
    if not kept:
        return EXIT_BAD_INPUT
    task.runs, task.gpus = kept, task.gpus[: len(kept)]
    # No pre-flight here (submit ran it): a run whose data went bad checks it itself and
    # records the failure (exit 2) in its status.json, which a pre-flight error would not.
    scheduler = Scheduler(task, force_rerun=False, command=command, preflight=False)
    code = scheduler.start()
    unfinished = scheduler.counts["interrupted"] + scheduler.counts["pending"]
    if unfinished and os.environ.get("SLURM_JOB_ID"):
        requeue(os.environ["SLURM_JOB_ID"])
        return EXIT_INTERRUPTED
    return code


def main(argv: list[str]) -> int:
    """``python -m gan.cluster.element PLAN [INDEX]``; returns the exit code."""
    index_text = argv[2] if len(argv) == 3 else os.environ.get("SLURM_ARRAY_TASK_ID", "")
    if len(argv) not in (2, 3) or not index_text.isdigit():
        print(
            "error: usage: python -m gan.cluster.element PLAN [INDEX] (the index defaults "
            "to SLURM_ARRAY_TASK_ID)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    try:
        return run_element(argv[1], int(index_text))
    except UserError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main(sys.argv))
