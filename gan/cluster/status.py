"""``python main.py status <task>``: a task's runs counted by state, what needs a resubmit, the
Slurm jobs.

The states are the report's (:func:`gan.report.states.run_folder_state`: ``COMPLETED``, the
``.lock`` probe, ``status.json``), read from the run folders only, so any machine sharing the
results folder can ask. A run still saying *running* whose ``.lock`` this machine cannot see
held (another host, a file system without shared locks) is *running* while ``squeue`` lists
its Slurm job as running. Runs that are not finished and whose array element ``squeue``
still lists (pending, e.g. requeued) are *queued*: they need no resubmit. Never imports
TensorFlow.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

from gan.cluster.slurm import SLURM_DIR, read_jobs, read_plan
from gan.config import ConfigError
from gan.report.records import (
    COMPLETED,
    CRASHED,
    FAILED,
    INTERRUPTED,
    NOT_STARTED,
    REPORT_DIR,
    RUNNING,
)
from gan.report.states import run_folder_state, scheduler_verdicts
from gan.run_folder import RUNNING as STATUS_RUNNING
from gan.run_folder import RunStatus, read_status
from gan.tasks import Run, Task

#: The states ``status`` counts, in its order.
STATES = (COMPLETED, RUNNING, INTERRUPTED, FAILED, CRASHED, NOT_STARTED)
#: Slurm job states in which an element will still (re)start or is running.
LIVE_JOB_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SUSPENDED",
        "COMPLETING",
    }
)


@dataclass
class RunLine:
    """One run as ``status`` sees it."""

    run: Run
    state: str
    detail: str | None = None
    status: RunStatus | None = None
    queued_in: str | None = None  # the live Slurm element that will (re)start it

    @property
    def where(self) -> str:
        """Where a running run runs: Slurm job, host and pid, as far as known."""
        s = self.status
        if s is None:
            return "no status.json yet"
        parts = [f"slurm job {s.slurm_job}"] if s.slurm_job else []
        if s.host:
            parts.append(f"host {s.host}")
        if s.pid:
            parts.append(f"pid {s.pid}")
        if s.iteration is not None and s.total:
            parts.append(f"iteration {s.iteration} of {s.total}")
        return ", ".join(parts) or "no pid recorded"


@dataclass
class TaskStatus:
    """The runs of a task by state, and the Slurm jobs submitted for it."""

    task: Task
    lines: list[RunLine]
    jobs: list[dict]
    slurm_states: dict[str, str] | None = None  # element id -> squeue state; None: unknown
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def to_resubmit(self) -> list[RunLine]:
        """The runs that are not finished, not running and not waiting in a live element."""
        return [
            line
            for line in self.lines
            if line.state not in (COMPLETED, RUNNING) and line.queued_in is None
        ]


def squeue_states(job_ids: Iterable[str]) -> dict[str, str] | None:
    """``{element id ("123_4"): state}`` of the live elements of ``job_ids`` from ``squeue``;
    None when squeue is not available or fails (then nothing is known)."""
    ids = ",".join(dict.fromkeys(job_ids))
    if not ids:
        return {}
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-r", "-j", ids, "-o", "%i %T"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        # squeue refuses the whole list when one id is unknown (long gone): ask one by one.
        if "," not in ids:
            return {} if "Invalid job id" in proc.stderr else None
        out: dict[str, str] = {}
        for job in ids.split(","):
            one = squeue_states([job])
            if one is None:
                return None
            out.update(one)
        return out
    states = {}
    for row in proc.stdout.splitlines():
        parts = row.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def element_of_runs(jobs: list[dict]) -> dict[str, str]:
    """``{run folder: element id}`` of the submitted plans (a later submission wins)."""
    out = {}
    for job in jobs:
        try:
            plan = read_plan(job["plan"])
        except ConfigError:  # a plan moved or deleted: its runs are just not mapped
            continue
        for i, element in enumerate(plan.get("elements", [])):
            for entry in element:
                out[entry["run_dir"]] = f"{job['job_id']}_{i}"
    return out


def task_status(task: Task, ask_slurm: bool = True) -> TaskStatus:
    """Every run's state (and the Slurm elements still queued) of ``task``."""
    log_file = task.scheduler_config.get("log_file")
    ignore = [REPORT_DIR, SLURM_DIR]
    if task.scheduler_config.get("scheduler_log_file_path"):
        ignore.append(os.path.basename(task.scheduler_config["scheduler_log_file_path"]))
    verdicts = scheduler_verdicts(task.scheduler_log_path)
    jobs = read_jobs(task.results_root)
    slurm = squeue_states(j["job_id"] for j in jobs) if ask_slurm and jobs else None
    elements = element_of_runs(jobs) if slurm else {}
    lines = []
    for run in task.distinct_runs():
        state, detail = run_folder_state(run, log_file, ignore, verdicts.get(run.name))
        status = read_status(run.run_dir)
        line = RunLine(run, state, detail, status)
        if (
            state == CRASHED
            and status is not None
            and status.state == STATUS_RUNNING
            and status.slurm_job
            and (slurm or {}).get(status.slurm_job) == "RUNNING"
        ):
            line.state, line.detail = RUNNING, None  # its host's lock is not visible here
        element = elements.get(run.run_dir)
        if line.state not in (COMPLETED, RUNNING) and element in (slurm or {}):
            if slurm[element] in LIVE_JOB_STATES:
                line.queued_in = element
        lines.append(line)
    counts = {s: sum(1 for line in lines if line.state == s) for s in STATES}
    return TaskStatus(task, lines, jobs, slurm, counts)


def status_text(ts: TaskStatus) -> str:
    """The ``status`` command's output."""
    out = [f"{ts.task.name}: {len(ts.lines)} runs under {ts.task.results_root}"]
    if not os.path.isdir(ts.task.results_root):
        out[0] += (
            " (this folder does not exist: no run has started there; is --results_dir or "
            "result_root_folder the one the runs use?)"
        )
    width = max(len(s) for s in STATES)
    for state in STATES:
        line = f"{state:<{width}}  {ts.counts[state]}"
        queued = sum(1 for x in ts.lines if x.state == state and x.queued_in)
        if queued:
            line += f" ({queued} queued in Slurm)"
        out.append(line)
        if state == RUNNING:
            out += [f"    {x.run.name}: {x.where}" for x in ts.lines if x.state == RUNNING]
    resubmit = ts.to_resubmit
    out.append(f"need a resubmit: {len(resubmit)}" + (":" if resubmit else ""))
    for x in resubmit:
        why = x.state + (f": {x.detail}" if x.detail else "")
        if x.state == FAILED:
            why += " (fix the input first)"
        out.append(f"    {x.run.name}  {why}")
    if ts.jobs:
        if ts.slurm_states is None:
            out.append("slurm jobs (squeue not available here: queue states unknown):")
        else:
            out.append("slurm jobs:")
        for job in ts.jobs:
            live = sorted(
                s for e, s in (ts.slurm_states or {}).items() if e.split("_")[0] == job["job_id"]
            )
            now = (
                ", ".join(f"{live.count(s)} {s.lower()}" for s in dict.fromkeys(live))
                if live
                else "none in the queue"
            )
            out.append(
                f"    {job['job_id']}  submitted {job.get('submitted', '?')}: "
                f"{job.get('runs', '?')} runs in {job.get('elements', '?')} elements"
                + (f"; now {now}" if ts.slurm_states is not None else "")
            )
    else:
        out.append(f"slurm jobs: none submitted (no {os.path.join(SLURM_DIR, 'jobs.json')})")
    return "\n".join(out)
