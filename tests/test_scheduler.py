"""Tests of task loading, folder names, --only/--set, the CLI and the scheduler (fake runs)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from gan.config import DEFAULT_RESULTS_ROOT, REPO_ROOT, ConfigError
from gan.scheduler import DEFAULT_COMMAND, Scheduler
from gan.tasks import filter_runs, folder_name, load_task, select_runs
from tests.helpers import wait_for_file

NO_GAMMA_CNN = os.path.join(REPO_ROOT, "tasks", "no_gamma-CNN")
SPEC_NAME = (
    "d_beta1-0.5,d_beta2-0.999,d_lr-0.0001,dataset-cifar10,g_beta1-0.5,g_beta2-0.999,"
    "g_lr-0.0001,iteration-400000,mg-4,n_dis-1,run-0,scale-0.7,sn_mode-SN,"
)

# A stand-in for `python -m gan.run`: records its launch, then behaves as FAKE_MODE says.
FAKE_RUN = textwrap.dedent("""
    import json, os, signal, sys, time
    run_dir = sys.argv[sys.argv.index("--run_dir") + 1]
    name = os.path.basename(run_dir)
    cfg = json.load(open(os.path.join(run_dir, "config.json")))
    gpu = os.environ["CUDA_VISIBLE_DEVICES"]
    print(f"fake run {name} on {gpu!r} iteration {cfg['iteration']}", flush=True)
    with open(os.path.join(run_dir, "attempts.txt"), "a") as f:
        f.write(gpu + "\\n")
    if os.environ.get("FAKE_SHARED"):
        with open(os.environ["FAKE_SHARED"], "a") as f:
            f.write(name + "\\n")
    if os.environ.get("FAKE_LAUNCHES"):
        # A barrier: wait until the launches listed in FAKE_LAUNCHES come from FAKE_DISTINCT
        # ("ppid:2": two schedulers, "gpu:2": two workers) at once; only overlapping runs get
        # past (alone for 60 s: "ran alone", exit 3).
        with open(os.environ["FAKE_LAUNCHES"], "a") as f:
            f.write(f"{name} {os.getppid()} {gpu}\\n")
        key, want = os.environ["FAKE_DISTINCT"].split(":")
        field = {"ppid": 1, "gpu": 2}[key]
        deadline = time.monotonic() + 60
        while len({line.split(" ")[field] for line in
                   open(os.environ["FAKE_LAUNCHES"]).read().splitlines()}) < int(want):
            if time.monotonic() > deadline:
                print("ran alone", flush=True)
                sys.exit(3)
            time.sleep(0.01)
    mode = os.environ.get("FAKE_MODE", "complete")
    if mode in ("sleep", "stubborn"):
        # Wait for signals (an alarm ends the process after 60 s as a safety net). "sleep"
        # checkpoints and exits on the first; "stubborn" records each and goes on.
        def stop(signum, frame):
            print(f"got signal {signum}, checkpointing", flush=True)
            if mode == "sleep":
                sys.exit(75)
            with open(os.path.join(run_dir, "signals.txt"), "a") as f:
                f.write(f"{signum}\\n")
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.alarm(60)
        open(os.path.join(run_dir, "started"), "w").close()
        while True:
            signal.pause()
    if mode == "crash":
        sys.exit(1)
    if mode == "interrupt":
        sys.exit(75)
    open(os.path.join(run_dir, "COMPLETED"), "w").close()
""")

# Runs a Scheduler in its own process (for signals and concurrent schedulers).
DRIVER = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {REPO_ROOT!r})
    from gan.scheduler import Scheduler
    from gan.tasks import load_task
    task = load_task(sys.argv[1])
    sys.exit(Scheduler(task, command=[sys.executable, sys.argv[2]]).start())
""")


def write_task(
    root, name="toy", *, scheduler=None, global_config=None, test_config=None, text=None
) -> str:
    """Write a task folder with a config.py; returns its path."""
    task_dir = os.path.join(str(root), name)
    os.makedirs(task_dir, exist_ok=True)
    if text is None:
        config = {
            "scheduler_config": scheduler
            or {"gpu": ["0", ["1", "2"]], "result_root_folder": "res"},
            "global_config": {"iteration": 10, "mg": 4} if global_config is None else global_config,
            "test_config": test_config
            or [{"dataset": ["cifar10"], "run": range(2), "sn_mode": ["SN", "BSN"]}],
        }
        text = f"config = {config!r}\n"
    with open(os.path.join(task_dir, "config.py"), "w") as f:
        f.write(text)
    return task_dir


@pytest.fixture
def fake(tmp_path):
    path = tmp_path / "fake_run.py"
    path.write_text(FAKE_RUN)
    return [sys.executable, str(path)]


def run_scheduler(task, fake, **kwargs) -> tuple[int, str]:
    console = io.StringIO()
    code = Scheduler(task, command=fake, handle_signals=False, console=console, **kwargs).start()
    return code, console.getvalue()


def events(console: str, verb: str) -> int:
    """How many scheduler log lines say that a worker did ``verb`` to a run."""
    return len(re.findall(rf" gpu[0-9,]+ {verb} ", console))


def read(path) -> str:
    with open(path) as f:
        return f.read()


# ---------------------------------------------------------------------------------------------
# expansion and folder names


def test_no_gamma_cnn_expands_to_480_runs():
    # The original's values, from fjxmlzn/BSN at commit
    # 10862a2ce1a3efd045539d8b72c5353e888e4a92, no_gamma-CNN/config.py: its 9 test_config
    # blocks (in order) expand to 190, 70, 70, 40, 40, 40, 10, 10, 10 runs (480); batch_size,
    # latent_dim and metric_freq are in its global_config, the first run's keys (SPEC_NAME) in
    # its first block.
    task = load_task(NO_GAMMA_CNN)
    assert task.name == "no_gamma-CNN"
    assert len(task.runs) == 480
    per_block = [sum(r.block == b for r in task.runs) for b in range(9)]
    assert per_block == [190, 70, 70, 40, 40, 40, 10, 10, 10]
    # The lr-grid blocks repeat the scale-1.0 runs of the first three blocks (lr 1e-4, 1e-4).
    assert len(task.distinct_runs()) == 450
    assert task.gpus == ["0"]
    assert task.results_root == os.path.join(DEFAULT_RESULTS_ROOT, "no_gamma-CNN")
    first = task.runs[0]
    assert first.name == SPEC_NAME
    assert first.run_dir == os.path.join(task.results_root, SPEC_NAME)
    cfg = first.config
    assert (cfg.batch_size, cfg.latent_dim, cfg.metric_freq) == (64, 128, 10000)
    assert (cfg.dataset, cfg.scale, cfg.sn_mode, cfg.run) == ("cifar10", 0.7, "SN", 0)
    assert cfg.network == "cnn" and cfg.loss == "hinge"  # defaults filled in
    stl = [r for r in task.runs if r.config.dataset == "stl10"]
    assert {r.config.iteration for r in stl if r.block == 7} == {400000}
    assert {r.config.iteration for r in stl if r.block != 7} == {800000}


def test_folder_name_rules():
    combo = {"b": [1, 2], "a": "x" * 40, "skip": 3}
    sched = {
        "config_string_value_maxlen": 5,
        "ignored_keys_for_folder_name": ["skip"],
        "ignored_characters_for_folder_name": [" ", "[", "]"],
        "test_config_string_indicator": "=",
        "test_config_string_separator": ";",
    }
    assert folder_name(combo, sched) == "a=xxxxx;b=1,2;"
    assert folder_name({"run": 0, "dataset": "cifar10"}, {}) == "dataset-cifar10,run-0,"


def test_global_keys_stay_out_of_folder_names(tmp_path):
    task = load_task(write_task(tmp_path))
    assert [r.name for r in task.runs] == [
        "dataset-cifar10,run-0,sn_mode-SN,",
        "dataset-cifar10,run-0,sn_mode-BSN,",
        "dataset-cifar10,run-1,sn_mode-SN,",
        "dataset-cifar10,run-1,sn_mode-BSN,",
    ]
    assert task.gpus == ["0", "1,2"]


def test_results_root(tmp_path):
    task_dir = write_task(tmp_path, scheduler={"gpu": ["0"], "result_root_folder": "out"})
    assert load_task(task_dir).results_root == os.path.join(task_dir, "out")
    other = str(tmp_path / "elsewhere")
    assert load_task(task_dir, results_dir=other).results_root == other
    plain = write_task(tmp_path, "plain", scheduler={"gpu": ["0"]})
    assert load_task(plain).results_root == os.path.join(DEFAULT_RESULTS_ROOT, "plain")


# ---------------------------------------------------------------------------------------------
# --set and --only


def test_overrides_change_every_config_but_no_folder_name():
    task = load_task(NO_GAMMA_CNN)
    changed = select_runs(task, overrides="iteration=1000,summary_freq=10,data_root='/d'")
    assert [r.name for r in changed.runs] == [r.name for r in task.runs]
    assert all(
        r.config.iteration == 1000 and r.config.summary_freq == 10 and r.config.data_root == "/d"
        for r in changed.runs
    )
    assert task.runs[0].config.iteration == 400000  # the original task is untouched


def test_filter_selects_the_true_count():
    task = load_task(NO_GAMMA_CNN)
    runs = filter_runs(task.runs, "dataset=cifar10,sn_mode=BSN,scale=1.0,run=0")
    # block 0 (scale 1.0): 1, the cifar10 lr grid: 2 x 2 = 4, cifar10 with n_dis 5: 1
    assert len(runs) == 6
    assert [r.block for r in runs] == [0, 3, 3, 3, 3, 6]
    assert len({r.run_dir for r in runs}) == 5
    assert len(filter_runs(task.runs, {"scale": 1})) == len(filter_runs(task.runs, "scale=1.0"))
    assert len(filter_runs(task.runs, "dataset=celeba")) == 70 + 40 + 10


@pytest.mark.parametrize(
    "only,overrides,expected",
    [
        ("", "scael=2.0", ["--set", "unknown key 'scael'", "did you mean 'scale'"]),
        ("datset=cifar10", "", ["--only", "unknown key 'datset'", "did you mean 'dataset'"]),
        ("dataset=mnist", "", ["--only", "dataset=mnist", "no run", "cifar10, stl10, celeba"]),
        ("", "sn_mode=XSN", ["--set", "sn_mode", "XSN", "'BSN'"]),
        ("", "iteration=-5", ["--set", "iteration", "-5", "positive"]),
        ("", "loss=wgan_gp", ["--set", "d_gp_coe"]),
        ("", "iteration", ["--set", "key=value"]),
    ],
)
def test_bad_only_and_set(only, overrides, expected):
    task = load_task(NO_GAMMA_CNN)
    with pytest.raises(ConfigError) as info:
        select_runs(task, only=only, overrides=overrides)
    for part in expected:
        assert part in str(info.value)


# ---------------------------------------------------------------------------------------------
# config-file errors


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        (
            {"test_config": [{"dataset": ["cifar10"]}, {"dataset": ["cifar10"], "scael": [1.0]}]},
            ["test_config[1]", "unknown key 'scael'", "did you mean 'scale'"],
        ),
        (
            {"global_config": {"iteration": 10, "mg": 4, "batchsize": 64}},
            ["global_config", "unknown key 'batchsize'", "did you mean 'batch_size'"],
        ),
        (
            {"scheduler": {"gpu": ["0"], "force_rerum": True}},
            ["scheduler_config", "unknown key 'force_rerum'", "did you mean 'force_rerun'"],
        ),
        (
            {
                "test_config": [
                    {"dataset": ["cifar10"]},
                    {"dataset": ["cifar10"], "sn_mode": ["ZSN"]},
                ]
            },
            ["test_config[1]", "sn_mode = 'ZSN'", "'BSN'"],
        ),
        (
            {"test_config": [{"dataset": "cifar10"}]},
            ["test_config[0]", "dataset", "list of values"],
        ),
        ({"scheduler": {"gpu": [0]}}, ["scheduler_config", "gpu[0] = 0"]),
        ({"scheduler": {"gpu": []}}, ["gpu is empty"]),
        (
            {
                "scheduler": {"gpu": ["0"], "ignored_keys_for_folder_name": ["run"]},
                "test_config": [{"dataset": ["cifar10"], "run": [0, 1]}],
            },
            ["both give folder 'dataset-cifar10,'", "differ in run"],
        ),
        ({"text": "x = 1\n"}, ["no dict named 'config'"]),
        ({"text": "config = [1]\n"}, ["'config' must be a dict"]),
        ({"text": "config = {\n"}, ["failed to import", "SyntaxError"]),
        ({"text": "config = {'global_config': {}}\n"}, ["no 'scheduler_config'"]),
    ],
)
def test_config_file_errors_name_file_and_key(tmp_path, kwargs, expected):
    task_dir = write_task(tmp_path, **kwargs)
    with pytest.raises(ConfigError) as info:
        load_task(task_dir)
    message = str(info.value)
    assert os.path.join(task_dir, "config.py") in message
    for part in expected:
        assert part in message


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config.py: no such file"):
        load_task(str(tmp_path))


def test_task_without_test_config_runs_in_the_results_root(tmp_path, fake):
    text = (
        "config = {'scheduler_config': {'gpu': ['0'], 'result_root_folder': 'res'},\n"
        "          'global_config': {'dataset': 'cifar10', 'iteration': 5, 'mg': 4}}\n"
    )
    task = load_task(write_task(tmp_path, text=text))
    assert [r.name for r in task.runs] == [""] and task.runs[0].run_dir.endswith("res/")
    assert run_scheduler(task, fake)[0] == 0
    assert run_scheduler(task, fake, force_rerun=True)[0] == 0
    assert read(task.scheduler_log_path).count("scheduler starts task") == 2


def test_identical_duplicates_run_once(tmp_path, fake):
    task = load_task(
        write_task(
            tmp_path,
            test_config=[
                {"dataset": ["cifar10"], "run": [0, 1]},
                {"dataset": ["cifar10"], "run": [1]},
            ],
        )
    )
    assert len(task.runs) == 3 and len(task.distinct_runs()) == 2
    assert run_scheduler(task, fake)[0] == 0
    assert read(os.path.join(task.runs[2].run_dir, "attempts.txt")).count("\n") == 1


# ---------------------------------------------------------------------------------------------
# command line


def cli(*args, cwd=REPO_ROOT, script=None) -> subprocess.CompletedProcess[str]:
    script = script or os.path.join(REPO_ROOT, "main.py")
    return subprocess.run(
        [sys.executable, script, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_cli_dry_run(tmp_path):
    out_dir = str(tmp_path / "res")
    result = cli("no_gamma-CNN", "--dry_run", "--results_dir", out_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"{SPEC_NAME}  {os.path.join(out_dir, SPEC_NAME)}  (new)" in lines
    assert len(lines) == 451 and "480 runs in 450 folders" in lines[-1]
    assert not os.path.exists(out_dir)
    # by path, with a filter, and from inside the task folder: the same listing
    args = ("--dry_run", "--only", "dataset=cifar10,sn_mode=BSN,scale=1.0,run=0")
    by_path = cli("tasks/no_gamma-CNN", *args)
    inside = cli(*args, cwd=NO_GAMMA_CNN, script="main.py")
    assert by_path.returncode == inside.returncode == 0, inside.stderr
    assert by_path.stdout == inside.stdout
    assert "6 runs in 5 folders" in inside.stdout


@pytest.mark.parametrize(
    "args,expected",
    [
        (("no_gamma-CNN", "--dry_run", "--set", "bogus=1"), "unknown key 'bogus'"),
        (("no_gamma-CNN", "--dry_run", "--only", "dataset=mnist"), "no run of the task matches"),
        (("no_such_task", "--dry_run"), "task folder 'no_such_task' not found"),
        (("no_gamma-CNN", "--bogus_flag"), "bogus_flag"),
        (("no_gamma-CNN", "extra", "--dry_run"), "at most one task folder"),
    ],
)
def test_cli_errors(args, expected):
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_default_task_and_run_cli(tmp_path):
    result = cli("--dry_run", cwd=str(tmp_path))
    if os.path.isdir(os.path.join(REPO_ROOT, "tasks", "quickstart")):
        assert result.returncode == 0 and "quickstart" in result.stdout.splitlines()[-1]
    else:
        assert result.returncode == 2 and "'quickstart' not found" in result.stderr
    code = (
        "import sys; import main; "
        "sys.exit(main.run_cli(['main.py', 'no_gamma-CNN', '--dry_run', '--set', 'x=1']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and result.stderr.startswith("error: --set: unknown key 'x'")


def test_cli_bad_task_config(tmp_path):
    task_dir = write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "sn_mode": ["ZSN"]}])
    result = cli(task_dir, "--dry_run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {task_dir}") and "ZSN" in result.stderr


# ---------------------------------------------------------------------------------------------
# running


def test_default_command_is_gan_run():
    assert list(DEFAULT_COMMAND) == [sys.executable, "-m", "gan.run"]


def test_run_skip_and_force_rerun(tmp_path, fake, monkeypatch):
    # Each run waits until both workers have launched one: both get work.
    monkeypatch.setenv("FAKE_LAUNCHES", str(tmp_path / "launches.txt"))
    monkeypatch.setenv("FAKE_DISTINCT", "gpu:2")
    task = load_task(write_task(tmp_path), results_dir=str(tmp_path / "res"))
    task = select_runs(task, overrides="iteration=7")
    code, console = run_scheduler(task, fake)
    assert code == 0, console
    gpus = set()
    for run in task.runs:
        assert os.path.exists(os.path.join(run.run_dir, "COMPLETED"))
        assert json.loads(read(os.path.join(run.run_dir, "config.json"))) == run.config.to_dict()
        assert read(os.path.join(run.run_dir, "config.json")).startswith('{\n  "batch_size"')
        log = read(os.path.join(run.run_dir, "worker.log"))
        assert "scheduler starts this run" in log and f"fake run {run.name}" in log
        assert "iteration 7" in log
        gpus.add(read(os.path.join(run.run_dir, "attempts.txt")).strip())
    assert gpus == {"0", "1,2"}  # both workers ran something, each with its own devices
    sched_log = read(os.path.join(task.results_root, "scheduler.log"))
    assert sched_log.count(" finishes ") == 4 and "progress: done 4" in console

    code, console = run_scheduler(task, fake)
    assert code == 0 and console.count("(completed)") == 4
    assert all(read(os.path.join(r.run_dir, "attempts.txt")).count("\n") == 1 for r in task.runs)

    stale = os.path.join(task.runs[0].run_dir, "stale.txt")
    open(stale, "w").close()
    code, console = run_scheduler(task, fake, force_rerun=True)
    assert code == 0 and events(console, "starts") == 4
    assert not os.path.exists(stale)
    for run in task.runs:
        assert read(os.path.join(run.run_dir, "attempts.txt")).count("\n") == 1
        assert read(os.path.join(run.run_dir, "worker.log")).count("=====") == 2


@pytest.mark.parametrize(
    "mode,code,word", [("crash", 1, "crashed"), ("interrupt", 75, "interrupted")]
)
def test_failed_runs_resume_on_next_start(tmp_path, fake, monkeypatch, mode, code, word):
    task = load_task(write_task(tmp_path), results_dir=str(tmp_path / "res"))
    monkeypatch.setenv("FAKE_MODE", mode)
    got, console = run_scheduler(task, fake)
    assert got == code and events(console, word) == 4
    if mode == "crash":
        assert "exit code 1" in console and "failed 4" in console
    monkeypatch.setenv("FAKE_MODE", "complete")
    got, console = run_scheduler(task, fake)
    assert got == 0 and events(console, "resumes") == 4
    for run in task.runs:
        log = read(os.path.join(run.run_dir, "worker.log"))
        assert "scheduler starts this run" in log and "scheduler resumes this run" in log
        assert log.count(f"fake run {run.name}") == 2  # the earlier log is kept
        assert os.path.exists(os.path.join(run.run_dir, "COMPLETED"))
    sched_log = read(os.path.join(task.results_root, "scheduler.log"))
    assert word in sched_log and " resumes " in sched_log


def test_run_locked_elsewhere_is_skipped(tmp_path, fake):
    task = load_task(write_task(tmp_path), results_dir=str(tmp_path / "res"))
    busy = task.runs[1]
    os.makedirs(busy.run_dir)
    with open(os.path.join(busy.run_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, console = run_scheduler(task, fake)
    assert code == 0 and f"{busy.name} running elsewhere, skipped" in console
    assert not os.path.exists(os.path.join(busy.run_dir, "attempts.txt"))
    assert sum(os.path.exists(os.path.join(r.run_dir, "COMPLETED")) for r in task.runs) == 3


def test_concurrent_schedulers_never_share_a_run(tmp_path, fake):
    task_dir = write_task(
        tmp_path, test_config=[{"dataset": ["cifar10"], "run": range(4), "sn_mode": ["SN", "BSN"]}]
    )
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    shared = tmp_path / "launched.txt"
    launches = tmp_path / "launches.txt"
    # Every run waits until both schedulers have launched one (else it fails): they overlap.
    env = dict(
        os.environ, FAKE_SHARED=str(shared), FAKE_LAUNCHES=str(launches), FAKE_DISTINCT="ppid:2"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(driver), task_dir, fake[1]],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    names = read(shared).split()
    assert len(names) == len(set(names)) == 8
    launchers = {line.split()[1] for line in read(launches).splitlines()}
    assert launchers == {str(p.pid) for p in procs}
    task = load_task(task_dir)
    assert sorted(names) == sorted(r.name for r in task.runs)
    assert all(os.path.exists(os.path.join(r.run_dir, "COMPLETED")) for r in task.runs)


def test_sigterm_is_forwarded_and_runs_resume(tmp_path, fake):
    task_dir = write_task(
        tmp_path, test_config=[{"dataset": ["cifar10"], "run": range(3), "sn_mode": ["SN"]}]
    )
    task = load_task(task_dir)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = dict(os.environ, FAKE_MODE="sleep")
    proc = subprocess.Popen(
        [sys.executable, str(driver), task_dir, fake[1]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for run in task.runs[:2]:
        wait_for_file(os.path.join(run.run_dir, "started"), proc)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert events(output, "interrupted") == 2 and "failed 0" in output
    for run in task.runs[:2]:
        assert "got signal 15" in read(os.path.join(run.run_dir, "worker.log"))
    assert not os.path.exists(task.runs[2].run_dir)  # never started

    code, console = run_scheduler(task, fake)
    assert code == 0 and events(console, "resumes") == 2 and events(console, "starts") == 1


def _signals_received(run_dir: str) -> list[str]:
    path = os.path.join(run_dir, "signals.txt")
    return read(path).split() if os.path.exists(path) else []


def test_a_second_signal_is_passed_on_and_the_third_kills_the_runs(tmp_path, fake):
    """The scheduler forwards the first two SIGTERMs to a run that does not stop; the third
    becomes SIGKILL. The run is recorded interrupted (killed by signal 9) and resumes."""
    task_dir = write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0]}])
    task = load_task(task_dir)
    run_dir = task.runs[0].run_dir
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = dict(os.environ, FAKE_MODE="stubborn")  # records each signal, keeps running
    proc = subprocess.Popen(
        [sys.executable, str(driver), task_dir, fake[1]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for_file(os.path.join(run_dir, "started"), proc)
    for count in (1, 2):
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60  # a safety net: the run records it at once
        while len(_signals_received(run_dir)) < count:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert _signals_received(run_dir) == ["15", "15"]
    assert output.count("scheduler got SIGTERM: sending SIGTERM to 1 running runs") == 2
    assert "scheduler got SIGTERM: sending SIGKILL to 1 running runs" in output
    assert events(output, "interrupted") == 1 and "(killed by signal 9)" in output
    code, console = run_scheduler(task, fake)
    assert code == 0 and events(console, "resumes") == 1


def test_a_config_changed_since_the_last_start_is_warned_with_its_keys(tmp_path, fake, monkeypatch):
    task = load_task(write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0]}]))
    monkeypatch.setenv("FAKE_MODE", "interrupt")
    code, console = run_scheduler(task, fake)
    assert code == 75 and "changed since its last start" not in console
    code, console = run_scheduler(task, fake)  # the same config: no warning
    assert code == 75 and "changed since its last start" not in console
    changed = select_runs(task, overrides="iteration=20,n_dis=2")
    code, console = run_scheduler(changed, fake)
    (line,) = [x for x in console.splitlines() if "changed since its last start" in x]
    assert " WARNING " in line and task.runs[0].name in line
    assert "(iteration, n_dis); it resumes with the new config" in line
    # the fake run never accepts the proposed config: config.json stays, the proposal goes
    run_dir = task.runs[0].run_dir
    assert json.loads(read(os.path.join(run_dir, "config.json")))["n_dis"] == 1
    assert not os.path.exists(os.path.join(run_dir, "config.proposed.json"))


def test_a_run_folder_without_a_key_added_since_resumes_without_a_config_change(
    tmp_path, fake, monkeypatch
):
    """A ``config.json`` written before a key existed (here ``plugins``, at its default) is
    the same config: no warning, no proposal, the file left as it is; a real change beside it
    is named alone."""
    task = load_task(write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0]}]))
    monkeypatch.setenv("FAKE_MODE", "interrupt")
    code, _ = run_scheduler(task, fake)
    path = os.path.join(task.runs[0].run_dir, "config.json")
    old = json.loads(read(path))
    del old["plugins"]
    with open(path, "w") as f:
        json.dump(old, f)
    before = read(path)
    code, console = run_scheduler(task, fake)
    assert code == 75 and "changed since its last start" not in console
    assert read(path) == before
    assert not os.path.exists(os.path.join(task.runs[0].run_dir, "config.proposed.json"))
    code, console = run_scheduler(select_runs(task, overrides="n_dis=2"), fake)
    (line,) = [x for x in console.splitlines() if "changed since its last start" in x]
    assert "(n_dis); it resumes with the new config" in line
