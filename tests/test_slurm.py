"""Slurm: the submitted job array's script and plan, an element's run through the run-folder
contract, ``status``, and (tests marked ``slurm``) a real single-node Slurm."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from gan import run_folder as rf
from gan.cluster import element
from gan.cluster import status as cluster_status
from gan.cluster.slurm import (
    JOBS_FILE,
    SLURM_DIR,
    SlurmOptions,
    batch_script,
    plan_json,
    plan_submission,
    read_jobs,
    read_plan,
    submit,
)
from gan.cluster.status import status_text, task_status
from gan.config import REPO_ROOT, ConfigError
from gan.run_folder import lock_held
from gan.tasks import apply_overrides, load_task
from tests.after_training import assert_one_error_line, cli

# ---------------------------------------------------------------------------------------------
# status.json's Slurm job


def test_status_json_records_the_slurm_job_and_older_files_still_read(tmp_path):
    env = {"SLURM_JOB_ID": "107", "SLURM_ARRAY_JOB_ID": "100", "SLURM_ARRAY_TASK_ID": "7"}
    assert rf.slurm_job_id(env) == "100_7"
    assert rf.slurm_job_id({"SLURM_JOB_ID": "107"}) == "107"
    assert rf.slurm_job_id({}) is None
    old = {"state": "interrupted", "iteration": 5, "total": 10, "pid": 1, "host": "h"}
    (tmp_path / rf.STATUS_FILE).write_text(json.dumps(old))
    status = rf.read_status(str(tmp_path))
    assert (status.state, status.slurm_job) == (rf.INTERRUPTED, None)
    rf.update_status(str(tmp_path), **rf.process_status(rf.RUNNING))
    assert rf.read_status(str(tmp_path)).slurm_job == rf.slurm_job_id()


# ---------------------------------------------------------------------------------------------
# The job array: plan, script, submission (no Slurm needed)

GLOBAL = {
    "dataset": "shapes",
    "mg": 4,
    "network_width": 0.25,
    "batch_size": 8,
    "latent_dim": 32,
    "vis_freq": 100,
    "vis_num_h": 2,
    "vis_num_w": 2,
    "summary_freq": 10,
    "time_freq": 100,
    "metric_freq": 100,
    "save_checkpoint_freq": 20,
    "metrics": ["swd"],
    "swd_num_samples": 64,
    "swd_patches_per_image": 8,
    "seed": 3,
    "iteration": 200,
}


def write_task(folder, test_config, **global_config):
    """A task folder at ``folder`` with the tiny shapes run ``GLOBAL`` (changed by
    ``global_config``) expanded over ``test_config``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "scheduler_config": {"gpu": ["0"], "scheduler_log_file_path": "scheduler.log"},
        "global_config": {**GLOBAL, **global_config},
        "test_config": test_config,
    }
    (folder / "config.py").write_text(f"config = {config!r}\n")
    return folder


def tiny_task(tmp_path, runs=5, **global_config):

    task_dir = write_task(tmp_path / "task", [{"run": list(range(runs))}], **global_config)
    return load_task(str(task_dir), results_dir=str(tmp_path / "results"))


def directives(script):
    return [line[len("#SBATCH ") :] for line in script.splitlines() if line.startswith("#SBATCH")]


def test_the_script_asks_slurm_for_each_option(tmp_path):

    task = tiny_task(tmp_path)
    options = SlurmOptions(
        partition="gpu",
        account="lab",
        time_limit="48:00:00",
        gpus_per_element=2,
        cpus_per_element=6,
        mem="32G",
        throttle=3,
        signal_before=300,
        sbatch_args=("--qos=high", "--comment=a b"),
        log_dir=str(tmp_path / "logs"),
    )
    sub = plan_submission(task, options, stamp="T")
    assert directives(batch_script(sub)) == [
        "--job-name=bsn-task",
        "--array=0-4%3",
        f"--output={tmp_path / 'logs' / '%x-%A_%a.out'}",
        "--open-mode=append",
        "--ntasks=1",
        "--cpus-per-task=6",
        "--gres=gpu:2",
        "--mem=32G",
        "--time=48:00:00",
        "--partition=gpu",
        "--account=lab",
        "--signal=B:TERM@300",
        "--requeue",
        "--qos=high",
        '--comment="a b"',
    ]


def test_by_default_each_element_is_one_run_on_one_gpu_signalled_before_its_limit(tmp_path):

    task = tiny_task(tmp_path, runs=3)
    sub = plan_submission(task, SlurmOptions(), stamp="T")
    script = batch_script(sub)
    assert directives(script) == [
        "--job-name=bsn-task",
        "--array=0-2",
        f"--output={tmp_path / 'results' / 'slurm' / 'logs' / '%x-%A_%a.out'}",
        "--open-mode=append",
        "--ntasks=1",
        "--cpus-per-task=8",
        "--gres=gpu:1",
        "--signal=B:TERM@120",
        "--requeue",
    ]
    assert [[run.name for run in element] for element in sub.elements] == [
        ["run-0,"],
        ["run-1,"],
        ["run-2,"],
    ]
    assert script.startswith("#!/bin/bash\n")
    assert f"\ncd {REPO_ROOT}\n" in script
    plan = tmp_path / "results" / "slurm" / "bsn-task-T.json"
    assert script.endswith(f"\nexec {sys.executable} -m gan.cluster.element {plan}\n")
    assert "# element 2: run-2,\n" in script


def test_packing_groups_unfinished_runs_in_task_order(tmp_path):

    task = tiny_task(tmp_path, runs=6)
    done, busy = task.runs[1].run_dir, task.runs[4].run_dir
    for folder in (done, busy):
        os.makedirs(folder)
    open(os.path.join(done, rf.COMPLETED_FILE), "w").close()
    fd = os.open(os.path.join(busy, rf.LOCK_FILE), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        sub = plan_submission(task, SlurmOptions(pack=2, gpus_per_element=0), lock_held)
    finally:
        os.close(fd)
    assert [[run.name for run in element] for element in sub.elements] == [
        ["run-0,", "run-2,"],
        ["run-3,", "run-5,"],
    ]
    assert [(run.name, why.split()[0]) for run, why in sub.skipped] == [
        ("run-1,", "completed"),
        ("run-4,", "running"),
    ]
    script = batch_script(sub)
    assert "--array=0-1" in directives(script)
    assert not any(d.startswith("--gres") for d in directives(script))  # a CPU element
    assert "# element 1: run-3, run-5,\n" in script


def test_a_run_needing_more_gpus_than_an_element_has_is_refused(tmp_path):

    task = tiny_task(tmp_path, runs=1)
    task = replace(
        task,
        runs=apply_overrides(
            task.runs,
            {
                "network": "resnet",
                "dataset": "imagenet",
                "num_gpus": 2,
                "d_batch_size": 4,
                "g_batch_size": 4,
            },
        ),
    )
    with pytest.raises(ConfigError, match="num_gpus = 2.*--gpus_per_element 2"):
        plan_submission(task, SlurmOptions(gpus_per_element=1))
    assert len(plan_submission(task, SlurmOptions(gpus_per_element=2)).elements) == 1


def test_dry_run_prints_the_script_and_the_sbatch_command_and_writes_nothing(tmp_path, capsys):

    task_dir = write_task(tmp_path / "task", [{"run": [0, 1, 2]}])
    results = tmp_path / "results"
    code = cli(
        "submit",
        str(task_dir),
        "--results_dir",
        str(results),
        "--dry_run",
        "--pack",
        "2",
        "--throttle",
        "1",
        "--time_limit",
        "1:00:00",
        "--gpus_per_element",
        "0",
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "#SBATCH --array=0-1%1\n" in out and "#SBATCH --time=1:00:00\n" in out
    assert "# element 0: run-0, run-1,\n# element 1: run-2,\n" in out
    assert out.splitlines()[-1].startswith(f"sbatch --parsable {results}/slurm/bsn-task-")
    assert not results.exists()


def test_submit_refuses_flags_it_does_not_use(tmp_path, capsys):

    task_dir = write_task(tmp_path / "task", [{"run": [0]}])
    code = cli("submit", str(task_dir), "--shard", "0/2", "--dry_run")
    assert_one_error_line(capsys, code, "--shard", "not used by submit")
    code = cli("status", str(task_dir), "--set", "iteration=5")
    assert_one_error_line(capsys, code, "--set", "not used by status")


def test_submit_writes_plan_and_script_and_records_the_job_id(tmp_path):

    fake = tmp_path / "sbatch"
    fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\necho \'4242;ci\'\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    task = tiny_task(tmp_path, runs=3)
    sub = plan_submission(task, SlurmOptions(pack=2), stamp="T")
    assert submit(sub, sbatch=[str(fake), "--parsable", sub.script_path]) == "4242"
    assert (tmp_path / "args").read_text().split() == ["--parsable", sub.script_path]
    assert os.path.isfile(sub.script_path) and os.path.isdir(sub.log_dir)
    plan = read_plan(sub.plan_path)
    assert [[e["run_dir"] for e in element] for element in plan["elements"]] == [
        [task.runs[0].run_dir, task.runs[1].run_dir],
        [task.runs[2].run_dir],
    ]
    assert plan["elements"][0][0]["config"] == task.runs[0].config.to_dict()
    [job] = read_jobs(task.results_root)
    assert (job["job_id"], job["elements"], job["runs"], job["plan"]) == (
        "4242",
        2,
        3,
        sub.plan_path,
    )
    # Nothing in the run folders yet: a queued run reads "not started".
    assert not any(os.path.exists(run.run_dir) for run in task.runs)


def test_submit_names_what_sbatch_said_when_it_refuses(tmp_path):

    task = tiny_task(tmp_path, runs=1)
    sub = plan_submission(task, SlurmOptions(), stamp="T")
    refusing = ["sh", "-c", "echo 'sbatch: error: invalid partition' >&2; exit 1"]
    with pytest.raises(ConfigError, match="sbatch refused .*invalid partition"):
        submit(sub, sbatch=refusing)


# ---------------------------------------------------------------------------------------------
# An element: its runs through the local scheduler (no Slurm needed)

FAKE_RUN = """
import json, os, sys
sys.path.insert(0, {repo!r})
from gan import run_folder as rf
run_dir = sys.argv[sys.argv.index("--run_dir") + 1]
code = {{1: 0}}.get(json.load(open(os.path.join(run_dir, "config.json")))["iteration"], 2)
code = 75 if "iteration-75" in run_dir else code
with open(os.path.join(os.path.dirname(run_dir), "launched"), "a") as f:
    f.write(os.path.basename(run_dir) + " " + os.environ["CUDA_VISIBLE_DEVICES"] + "\\n")
state = {{0: rf.COMPLETED, 2: rf.FAILED, 75: rf.INTERRUPTED}}[code]
rf.update_status(run_dir, **rf.process_status(state, exit_code=code))
if code == 0:
    open(os.path.join(run_dir, "COMPLETED"), "w").close()
sys.exit(code)
"""


def element_setup(tmp_path, iterations, pack):

    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN.format(repo=REPO_ROOT))

    task_dir = write_task(tmp_path / "task", [{"iteration": iterations}])
    task = load_task(str(task_dir), results_dir=str(tmp_path / "results"))
    sub = plan_submission(task, SlurmOptions(pack=pack, gpus_per_element=0), stamp="T")
    os.makedirs(sub.slurm_dir)
    rf.write_json_atomic(sub.plan_path, plan_json(sub))
    return sub, [sys.executable, str(script)]


def test_an_element_runs_only_its_runs_and_requeues_itself_when_one_was_interrupted(
    tmp_path, monkeypatch
):

    sub, command = element_setup(tmp_path, [2, 75, 1], pack=3)
    requeued = []
    monkeypatch.setattr(element, "requeue", requeued.append)
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    code = element.run_element(sub.plan_path, 0, command=command)
    assert code == rf.EXIT_INTERRUPTED and requeued == ["77"]
    launched = (tmp_path / "results" / "launched").read_text().split("\n")
    assert sorted(launched[:-1]) == ["iteration-1, 3", "iteration-2, 3", "iteration-75, 3"]
    states = {run.name: rf.read_status(run.run_dir) for run in sub.runs}
    assert states["iteration-2,"].slurm_job == "77"
    # The requeued element skips the run that failed with bad input in this job.
    (tmp_path / "results" / "launched").unlink()
    element.run_element(sub.plan_path, 0, command=command)
    assert (tmp_path / "results" / "launched").read_text() == "iteration-75, 3\n"


def test_an_element_whose_runs_failed_with_bad_input_is_not_requeued(tmp_path, monkeypatch):

    sub, command = element_setup(tmp_path, [2, 1], pack=1)
    requeued = []
    monkeypatch.setattr(element, "requeue", requeued.append)
    monkeypatch.setenv("SLURM_JOB_ID", "78")
    assert element.run_element(sub.plan_path, 0, command=command) == rf.EXIT_BAD_INPUT
    assert element.run_element(sub.plan_path, 1, command=command) == 0
    assert requeued == []
    assert element.main(["element", sub.plan_path, "x"]) == rf.EXIT_BAD_INPUT


# ---------------------------------------------------------------------------------------------
# status (synthetic run folders, no Slurm needed)


def write_states(task):
    """Give the 6 runs of ``task`` one state each (status.json, COMPLETED, a held .lock);
    returns the open descriptor holding run 1's lock."""

    dirs = [run.run_dir for run in task.runs]
    for d in dirs[:5]:
        os.makedirs(d)
        rf.write_json_atomic(os.path.join(d, rf.CONFIG_FILE), {})
    open(os.path.join(dirs[0], rf.COMPLETED_FILE), "w").close()
    rf.write_status(
        dirs[1],
        rf.RunStatus(rf.RUNNING, iteration=7, total=200, pid=4321, host="node7", slurm_job="500_1"),
    )
    fd = os.open(os.path.join(dirs[1], rf.LOCK_FILE), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    rf.write_status(dirs[2], rf.RunStatus(rf.INTERRUPTED, exit_code=75, slurm_job="500_2"))
    rf.write_status(dirs[3], rf.RunStatus(rf.FAILED, exit_code=2, error="x.npy: dtype int32"))
    rf.write_status(dirs[4], rf.RunStatus(rf.CRASHED, signal=9))
    return fd


def test_status_counts_each_state_and_lists_the_runs_needing_a_resubmit(tmp_path):

    task = tiny_task(tmp_path, runs=6)
    fd = write_states(task)
    try:
        text = status_text(task_status(task, ask_slurm=False))
    finally:
        os.close(fd)
    lines = text.splitlines()
    assert lines[0] == f"task: 6 runs under {task.results_root}"
    assert lines[1:8] == [
        "completed    1",
        "running      1",
        "    run-1,: slurm job 500_1, host node7, pid 4321, iteration 7 of 200",
        "interrupted  1",
        "failed       1",
        "crashed      1",
        "not started  1",
    ]
    assert lines[8:13] == [
        "need a resubmit: 4:",
        "    run-2,  interrupted",
        "    run-3,  failed: x.npy: dtype int32 (exit code 2) (fix the input first)",
        "    run-4,  crashed: status.json gives no error message (killed by signal 9)",
        "    run-5,  not started",
    ]
    assert lines[13].startswith("slurm jobs: none submitted")


def test_status_lists_the_jobs_and_leaves_out_runs_still_queued_in_slurm(tmp_path, monkeypatch):

    task = tiny_task(tmp_path, runs=6)
    sub = plan_submission(task, SlurmOptions(), stamp="T")  # elements 500_0 .. 500_5
    os.makedirs(sub.slurm_dir)
    rf.write_json_atomic(sub.plan_path, plan_json(sub))
    rf.write_json_atomic(
        os.path.join(task.results_root, SLURM_DIR, JOBS_FILE),
        [
            {
                "job_id": "500",
                "submitted": "2026-12-04 10:00:00",
                "elements": 6,
                "runs": 6,
                "plan": sub.plan_path,
            }
        ],
    )
    fd = write_states(task)
    asked = []

    def squeue(ids):
        asked.append(list(ids))
        return {"500_1": "RUNNING", "500_2": "PENDING", "500_5": "PENDING"}

    monkeypatch.setattr(cluster_status, "squeue_states", squeue)
    try:
        text = status_text(task_status(task))
    finally:
        os.close(fd)
    assert asked == [["500"]]
    assert "interrupted  1 (1 queued in Slurm)" in text and "not started  1 (1 queued" in text
    assert "need a resubmit: 2:\n    run-3,  failed" in text
    assert text.endswith(
        "slurm jobs:\n    500  submitted 2026-12-04 10:00:00: 6 runs in 6 "
        "elements; now 2 pending, 1 running"
    )


def test_status_never_imports_tensorflow(tmp_path):

    poisoned = tmp_path / "poisoned" / "tensorflow"
    poisoned.mkdir(parents=True)
    (poisoned / "__init__.py").write_text("raise ImportError('status imported tensorflow')\n")
    task_dir = write_task(tmp_path / "task", [{"run": [0, 1]}])
    env = dict(os.environ, PYTHONPATH=f"{poisoned.parent}{os.pathsep}{REPO_ROOT}")
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO_ROOT, "main.py"),
            "status",
            str(task_dir),
            "--results_dir",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "not started  2" in proc.stdout


# ---------------------------------------------------------------------------------------------
# A real Slurm (tests marked `slurm`; .ci/slurm-up starts a single-node one). Skipped with the
# reason when no Slurm answers, except under CI (env CI set), where they fail instead.


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEADLINE_S = 400  # a safety net only: the whole scenario takes one to two minutes
ITERATIONS = 100
slurm = pytest.mark.slurm
# One xdist worker runs this file: its Slurm jobs fill the node's CPUs (pyproject: loadgroup).
pytestmark = pytest.mark.xdist_group("slurm")


def slurm_problem() -> str | None:
    """Why no Slurm can run jobs here, or None when ``sinfo`` and ``scontrol ping`` answer."""
    for cmd in (["scontrol", "ping"], ["sinfo", "-h", "-o", "%T"]):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`{' '.join(cmd)}`: {exc}"
        if proc.returncode != 0 or "DOWN" in proc.stdout:
            return f"`{' '.join(cmd)}` says: {(proc.stdout + proc.stderr).strip()}"
    if not any(s.startswith(("idle", "mix", "alloc")) for s in proc.stdout.split()):
        return f"no node takes jobs (sinfo: {proc.stdout.strip()})"
    return None


@pytest.fixture(scope="module")
def live_slurm():
    problem = slurm_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a live Slurm (.ci/slurm-up): {problem}")
        pytest.skip(f"no live Slurm: {problem}")


def wait_for(what, check, deadline):
    """Poll ``check()`` until it returns a true value; fail naming ``what`` at the deadline."""
    while True:
        value = check()
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def squeue(job):
    out = subprocess.run(
        ["squeue", "-h", "-r", "-j", job, "-o", "%i %T"], capture_output=True, text=True
    ).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def job_fields(element):
    out = subprocess.run(
        ["scontrol", "show", "job", element], capture_output=True, text=True
    ).stdout
    return dict(word.split("=", 1) for word in out.split() if "=" in word)


def main_py(*args, env=None):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "main.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def interrupt(job, element, run_dir, how, deadline):
    """Stop ``element`` once its run saved a checkpoint (``how``: the command doing it), wait
    until the run says interrupted and the element is queued again, then let it start three
    seconds later (Slurm holds a requeued job back for two minutes: its BeginTime). Returns
    the run's status.json as it stopped."""
    wait_for(
        f"{run_dir.name}'s first checkpoint",
        lambda: (run_dir / "checkpoint" / "model-19.index").exists(),
        deadline,
    )
    subprocess.run([*how, f"{job}_{element}"], check=True)

    def interrupted():
        status = rf.read_status(str(run_dir))
        return status.state == rf.INTERRUPTED and not lock_held(str(run_dir))

    wait_for(f"{run_dir.name} interrupted", interrupted, deadline)
    stopped = rf.read_status(str(run_dir))
    wait_for(
        f"element {element} pending again",
        lambda: squeue(job).get(f"{job}_{element}") == "PENDING",
        deadline,
    )
    # Not "now": slurmd refuses to launch a job in the same second as it revoked that job's
    # credential (the kill), and fails the requeued element ("Job credential revoked"); the
    # two-minute hold that skips exists for that. A few seconds are enough.
    subprocess.run(["scontrol", "update", f"JobId={job}_{element}", "StartTime=now+3"], check=True)
    return stopped


@pytest.fixture(scope="module")
def sweep(live_slurm, tmp_path_factory):
    """A task of four one-CPU elements submitted to the live Slurm: run-0 (requeued from
    outside with ``scontrol requeue`` once it saved a checkpoint), run-1 (the same config,
    uninterrupted), run-2 (the same config, its batch shell sent SIGTERM as at a time limit:
    the element requeues itself) and a CIFAR-10 run whose data is bad (each batch holds 10
    images: exit 2 in gan.run, after the pre-flight check of the tarball's members passed).
    Returns what was seen on the way."""
    from tests.helpers import write_cifar_tarball

    root = tmp_path_factory.mktemp("slurm")
    data = root / "data"
    write_cifar_tarball(str(data / "CIFAR10" / "cifar-10-python.tar.gz"), per_batch=10)
    task_dir = write_task(
        root / "task",
        [{"run": [0, 1, 2]}, {"dataset": ["cifar10"]}],
        data_root=str(data),
        iteration=ITERATIONS,
        metric_freq=50,
    )
    results = root / "results"
    where = [str(task_dir), "--results_dir", str(results)]
    env = dict(os.environ, TF_DETERMINISTIC_OPS="1", TF_CPP_MIN_LOG_LEVEL="2")
    seen = {"results": results}
    proc = main_py(
        "submit",
        *where,
        "--gpus_per_element",
        "0",
        "--cpus_per_element",
        "1",
        "--mem",
        "2G",
        "--time_limit",
        "10:00",
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = seen["job"] = proc.stdout.split("submitted job array ")[1].split()[0]
    try:
        deadline = time.time() + DEADLINE_S
        wait_for("run-0 running", lambda: (results / "run-0," / rf.STATUS_FILE).exists(), deadline)
        seen["status_running"] = main_py("status", *where).stdout
        seen["requeued"] = interrupt(job, 0, results / "run-0,", ["scontrol", "requeue"], deadline)
        seen["status_interrupted"] = main_py("status", *where).stdout
        seen["time_limit"] = interrupt(
            job, 2, results / "run-2,", ["scancel", "--batch", "--signal=TERM"], deadline
        )
        wait_for("every element done", lambda: not squeue(job), deadline)
        seen["status_done"] = main_py("status", *where).stdout
        seen["jobs"] = {i: job_fields(f"{job}_{i}") for i in range(4)}
        seen["bad"] = rf.read_status(str(results / "dataset-cifar10,"))
        yield seen
    finally:
        subprocess.run(["scancel", job], capture_output=True)


@slurm
def test_a_submitted_task_runs_every_run_on_slurm(sweep):
    results, job = sweep["results"], sweep["job"]
    for i in range(3):
        status = rf.read_status(str(results / f"run-{i},"))
        assert (results / f"run-{i}," / rf.COMPLETED_FILE).is_file()
        assert (status.state, status.slurm_job) == (rf.COMPLETED, f"{job}_{i}")
    assert sorted(os.listdir(results / "slurm" / "logs")) == [
        f"bsn-task-{job}_{i}.out" for i in range(4)
    ]


def final_state(run_dir):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(run_dir / "checkpoint" / f"model-{ITERATIONS - 1}"))
    return {
        n: reader.get_tensor(n)
        for n in reader.get_variable_to_shape_map()
        if "save_counter" not in n and not n.startswith("_CHECKPOINTABLE")
    }


def assert_resumed_bit_identical(results, name):
    """The run ``name`` resumed from its checkpoint and ended exactly as the uninterrupted
    run-1: every checkpoint variable equal, ``metrics.csv`` the same bytes."""
    import numpy as np

    log = (results / name / "worker.log").read_text()
    assert log.count("scheduler resumes this run") == 1 and "restored" in log
    resumed, reference = final_state(results / name), final_state(results / "run-1,")
    assert resumed.keys() == reference.keys() and len(resumed) > 20
    for variable, value in reference.items():
        assert np.array_equal(resumed[variable], value), variable
    metrics = (results / "run-1," / rf.METRICS_FILE).read_bytes()
    assert len(metrics.splitlines()) == 3  # header, rows 49 and 99
    assert (results / name / rf.METRICS_FILE).read_bytes() == metrics


@slurm
def test_a_requeued_element_resumes_its_run_and_ends_bit_identical(sweep):
    job, jobs = sweep["job"], sweep["jobs"]
    stopped = sweep["requeued"]
    assert (stopped.exit_code, stopped.slurm_job) == (rf.EXIT_INTERRUPTED, f"{job}_0")
    assert (jobs[0]["JobState"], jobs[0]["Restarts"]) == ("COMPLETED", "1")
    assert (jobs[1]["JobState"], jobs[1]["Restarts"]) == ("COMPLETED", "0")
    assert_resumed_bit_identical(sweep["results"], "run-0,")


@slurm
def test_at_its_time_limit_signal_an_element_requeues_itself_and_resumes(sweep):
    job, jobs = sweep["job"], sweep["jobs"]
    stopped = sweep["time_limit"]
    assert (stopped.exit_code, stopped.slurm_job) == (rf.EXIT_INTERRUPTED, f"{job}_2")
    assert (jobs[2]["JobState"], jobs[2]["Restarts"]) == ("COMPLETED", "1")
    log = (sweep["results"] / "slurm" / "logs" / f"bsn-task-{job}_2.out").read_text()
    assert f"scontrol requeue {jobs[2]['JobId']}: requeued" in log
    assert_resumed_bit_identical(sweep["results"], "run-2,")


@slurm
def test_a_run_failing_with_bad_input_on_slurm_is_not_requeued(sweep):
    job, bad, fields = sweep["job"], sweep["bad"], sweep["jobs"][3]
    assert (bad.state, bad.exit_code, bad.slurm_job) == (rf.FAILED, 2, f"{job}_3")
    assert "holds uint8 (10, 3072)" in bad.error
    assert (fields["JobState"], fields["ExitCode"], fields["Restarts"]) == ("FAILED", "2:0", "0")
    log = (sweep["results"] / "dataset-cifar10," / "worker.log").read_text()
    assert log.count("scheduler starts this run") == 1 and "resumes" not in log


@slurm
def test_status_follows_the_submitted_task_through_each_state(sweep):
    job = sweep["job"]
    running = sweep["status_running"]
    assert f"    run-0,: slurm job {job}_0, host " in running
    assert "not started  2 (2 queued in Slurm)" in running
    assert "need a resubmit: 0" in running and f"    {job}  submitted " in running
    assert "interrupted  1 (1 queued in Slurm)" in sweep["status_interrupted"]
    done = sweep["status_done"].splitlines()
    assert done[1:8] == [
        "completed    3",
        "running      0",
        "interrupted  0",
        "failed       1",
        "crashed      0",
        "not started  0",
        "need a resubmit: 1:",
    ]
    assert done[8].startswith("    dataset-cifar10,  failed: ")
    assert done[-1].startswith(f"    {job}  submitted ") and "none in the queue" in done[-1]


def test_without_slurm_commands_the_live_tests_say_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "scontrol ping" in slurm_problem()


def test_an_element_without_scontrol_says_its_runs_need_a_resubmit(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(element.signal, "signal", lambda *args: None)  # keep pytest's SIGTERM
    element.requeue("91")
    assert "scontrol requeue 91: not run" in capsys.readouterr().out
