"""Nothing lost, nothing deleted, nothing executed (issue 19), and runs that share a GPU.

Each test reproduces one failure a hostile probe found: --force_rerun deleting files it did not
own, a corrupt latest checkpoint, a cut metrics.csv row, pickled code in a CIFAR tarball, bad
data found only inside the worker, a SIGTERM waiting for an evaluation, 0600 outputs, and the
smaller ones; then GPU memory growth and two workers on one GPU.
"""

from __future__ import annotations

import io
import json
import logging as py_logging
import os
import pickle
import re
import signal
import stat
import subprocess
import sys
import tarfile
import textwrap
import time

import numpy as np
import pytest

from gan import run_folder as rf
from gan.config import REPO_ROOT, ConfigError
from gan.metrics.base import MetricsCsv
from gan.report.states import legacy_log_state
from gan.scheduler import Scheduler
from gan.tasks import load_task, with_gpu_entries
from tests.helpers import write_cifar_tarball
from tests.test_scheduler import FAKE_RUN, events, read, run_scheduler, write_task


@pytest.fixture
def fake(tmp_path):
    path = tmp_path / "fake_run.py"
    path.write_text(FAKE_RUN)
    return [sys.executable, str(path)]


def cli(*args, cwd=REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "main.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---------------------------------------------------------------------------------------------
# 1. --force_rerun deletes only what a run wrote; a partial run resumes


def _root_task(tmp_path, **global_config) -> str:
    """A task without test_config: its one run folder is the results root itself."""
    cfg = {"dataset": "cifar10", "mg": 4, "iteration": 5, **global_config}
    return write_task(
        tmp_path,
        text=f"config = {{'scheduler_config': {{'gpu': ['0'], "
        f"'result_root_folder': 'res'}}, 'global_config': {cfg!r}}}\n",
    )


def test_force_rerun_of_the_results_root_run_keeps_everything_it_did_not_write(tmp_path, fake):
    task = load_task(_root_task(tmp_path))
    root = task.results_root
    assert os.path.normpath(task.runs[0].run_dir) == os.path.normpath(root)
    assert run_scheduler(task, fake)[0] == 0
    # what the user (and the report) keep next to the run, and what the run wrote
    os.makedirs(os.path.join(root, "mydata"))
    os.makedirs(os.path.join(root, "report"))
    for name in ("precious.txt", "mydata/thesis.tex", "report/report.md"):
        with open(os.path.join(root, name), "w") as f:
            f.write("keep me\n")
    os.makedirs(os.path.join(root, "checkpoint"))
    open(os.path.join(root, "checkpoint", "model-4.index"), "w").close()
    open(os.path.join(root, "metrics.csv"), "w").close()
    open(os.path.join(root, rf.INCEPTION_WEIGHTS_PREFIX + "123.npz"), "w").close()

    code, console = run_scheduler(task, fake, force_rerun=True)
    assert code == 0 and events(console, "starts") == 1
    for name in ("precious.txt", "mydata/thesis.tex", "report/report.md", "scheduler.log"):
        assert read(os.path.join(root, name)).strip(), name
    assert not os.path.exists(os.path.join(root, "checkpoint"))
    assert not os.path.exists(os.path.join(root, "metrics.csv"))
    assert not os.path.exists(os.path.join(root, rf.INCEPTION_WEIGHTS_PREFIX + "123.npz"))
    assert os.path.exists(os.path.join(root, "COMPLETED"))


def test_force_rerun_resumes_a_partial_run_with_its_checkpoints(tmp_path, fake, monkeypatch):
    task = load_task(write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0]}]))
    run_dir = task.runs[0].run_dir
    monkeypatch.setenv("FAKE_MODE", "interrupt")
    assert run_scheduler(task, fake)[0] == rf.EXIT_INTERRUPTED
    os.makedirs(os.path.join(run_dir, "checkpoint"))
    ckpt = os.path.join(run_dir, "checkpoint", "model-3.index")
    open(ckpt, "w").close()
    monkeypatch.setenv("FAKE_MODE", "complete")
    code, console = run_scheduler(task, fake, force_rerun=True)
    assert code == 0 and events(console, "resumes") == 1 and events(console, "starts") == 0
    assert os.path.exists(ckpt)
    assert read(os.path.join(run_dir, "attempts.txt")).count("\n") == 2


def test_force_rerun_moves_foreign_files_of_a_run_folder_aside_not_away(tmp_path, fake):
    task = load_task(write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0]}]))
    run_dir = task.runs[0].run_dir
    assert run_scheduler(task, fake)[0] == 0
    with open(os.path.join(run_dir, "notes.txt"), "w") as f:
        f.write("mine\n")
    assert run_scheduler(task, fake, force_rerun=True)[0] == 0
    kept = [n for n in os.listdir(task.results_root) if n.startswith(task.runs[0].name + ".kept-")]
    assert len(kept) == 1
    assert read(os.path.join(task.results_root, kept[0], "notes.txt")) == "mine\n"
    assert not os.path.exists(os.path.join(run_dir, "notes.txt"))


def test_dry_run_marks_only_completed_runs_for_a_rerun(tmp_path, fake, monkeypatch):
    task_dir = write_task(
        tmp_path,
        scheduler={"gpu": ["0"], "result_root_folder": "res"},
        global_config={"iteration": 10, "mg": 4, "data_root": str(tmp_path / "nodata")},
        test_config=[{"dataset": ["cifar10"], "run": [0, 1]}],
    )
    task = load_task(task_dir)
    monkeypatch.setenv("FAKE_MODE", "interrupt")
    Scheduler(
        task, runs=task.runs[:1], command=fake, handle_signals=False, console=io.StringIO()
    ).start()
    out = cli(task_dir, "--dry_run", "--force_rerun")
    assert out.returncode == 0, out.stderr
    assert "(partial)" in out.stdout and "rerun" not in out.stdout


# ---------------------------------------------------------------------------------------------
# 2. a corrupt latest checkpoint


def _tiny_config(**over):
    from gan.config import validate_run_config

    cfg = dict(
        dataset="cifar10",
        iteration=6,
        mg=4,
        batch_size=4,
        vis_freq=100,
        vis_num_h=1,
        vis_num_w=2,
        metric_freq=1000,
        save_checkpoint_freq=2,
        metrics=[],
        time_freq=100,
        summary_freq=100,
        seed=3,
    )
    cfg.update(over)
    return validate_run_config(cfg)


IMAGES = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)


def test_restore_falls_back_over_a_truncated_latest_checkpoint(tmp_path, caplog):
    from gan.trainer import Trainer

    run_dir = str(tmp_path)
    assert Trainer(_tiny_config(), run_dir, IMAGES, seed=3).train()
    ckpt = os.path.join(run_dir, "checkpoint")
    data = os.path.join(ckpt, "model-5.data-00000-of-00001")
    with open(data, "r+b") as f:  # a node lost mid-write
        f.truncate(os.path.getsize(data) // 2)

    trainer = Trainer(_tiny_config(iteration=8), run_dir, IMAGES, seed=3)
    with caplog.at_level(py_logging.WARNING):
        assert trainer.restore() == 3
    warned = [
        r.getMessage() for r in caplog.records if "does not read completely" in r.getMessage()
    ]
    assert len(warned) == 1 and "model-5.data-00000-of-00001" in warned[0]
    assert os.path.exists(data + rf.CORRUPT_SUFFIX)
    assert os.path.exists(os.path.join(ckpt, "model-5.index" + rf.CORRUPT_SUFFIX))
    assert not os.path.exists(data)
    state = read(os.path.join(ckpt, "checkpoint"))
    assert "model-5" not in state and "model-3" in state
    # the run goes on from iteration 4 and its new checkpoints are restorable
    assert trainer.train()
    import tensorflow as tf

    assert tf.train.latest_checkpoint(ckpt).endswith("model-7")


def test_restore_with_every_checkpoint_corrupt_starts_over(tmp_path):
    from gan.trainer import Trainer

    run_dir = str(tmp_path)
    assert Trainer(_tiny_config(iteration=2), run_dir, IMAGES, seed=3).train()
    data = os.path.join(run_dir, "checkpoint", "model-1.data-00000-of-00001")
    open(data, "w").close()
    trainer = Trainer(_tiny_config(iteration=2), run_dir, IMAGES, seed=3)
    assert trainer.restore() == -1
    assert os.path.exists(data + rf.CORRUPT_SUFFIX)
    assert trainer.train()


def test_a_checkpoint_lacking_holding_extra_or_reshaped_variables_is_refused(tmp_path):
    """The shape check before a restore: a variable the checkpoint lacks, one of another shape
    (in a dict or list child) or a network variable no longer built is a ConfigError naming it;
    nothing is restored then. A checkpoint that fits restores."""
    import tensorflow as tf

    from gan.training_checkpoints import RunCheckpoints

    def objects(value=0.0, **shapes):
        step = tf.Variable(0, dtype=tf.int64)
        net = {f"d/{name}": tf.Variable(tf.fill(shape, value)) for name, shape in shapes.items()}
        return dict(discriminator=net, d_optimizer=[tf.Variable(tf.zeros([3]))], global_id=step)

    saved = objects(2.0, kernel=[3], gamma0=[])
    written = RunCheckpoints(saved, saved["global_id"], str(tmp_path))
    written.save(4)

    def restore(**shapes):
        built = objects(**shapes)
        checkpoints = RunCheckpoints(built, built["global_id"], str(tmp_path))
        try:
            return checkpoints.restore(), built
        except ConfigError as e:
            assert float(built["discriminator"]["d/kernel"][0]) == 0.0  # nothing restored
            return str(e), built

    message, _ = restore(kernel=[3], gamma0=[], gamma1=[])
    assert "model-4: cannot resume" in message and "no discriminator variable d/gamma1" in message
    message, _ = restore(kernel=[4], gamma0=[])
    assert "discriminator variable d/kernel has shape [3], config.json now builds [4]" in message
    message, _ = restore(kernel=[3])
    assert "discriminator variable d/gamma0 (shape []) is one config.json no longer" in message
    assert "\n" not in message
    (global_id, found), built = restore(kernel=[3], gamma0=[])
    assert (global_id, found) == (4, True)
    assert [float(np.ravel(v.numpy())[0]) for v in built["discriminator"].values()] == [2.0, 2.0]


def test_a_resume_whose_config_changes_variable_shapes_is_refused_in_one_line(tmp_path):
    """A half-finished run whose config.json now builds other shapes (network_width changed)
    stops before restoring: one error line naming the checkpoint, the first differing
    variable with both shapes and what to do; exit 2, status failed, the checkpoint kept."""
    from gan.run import train_run

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = dict(
        dataset="shapes",
        mg=4,
        iteration=2,
        batch_size=4,
        vis_freq=100,
        vis_num_h=1,
        vis_num_w=2,
        metric_freq=1000,
        save_checkpoint_freq=1,
        metrics=[],
        time_freq=100,
        summary_freq=100,
        seed=3,
    )
    (run_dir / rf.CONFIG_FILE).write_text(json.dumps(config))
    assert train_run(str(run_dir)) == 0
    (run_dir / rf.CONFIG_FILE).write_text(json.dumps(dict(config, iteration=4, network_width=0.5)))
    proc = subprocess.run(
        [sys.executable, "-m", "gan.run", "--run_dir", str(run_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == rf.EXIT_BAD_INPUT, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    ckpt = os.path.join(str(run_dir), "checkpoint", "model-1")
    assert f"error: {ckpt}: cannot resume from this checkpoint" in line
    assert re.search(
        r"generator variable generator/\S+ has shape \[\d+(, \d+)*\], "
        r"config\.json now builds \[\d+(, \d+)*\]",
        line,
    ), line
    assert "config changed" in line and "new results folder" in line
    status = rf.read_status(str(run_dir))
    assert status.state == rf.FAILED and status.exit_code == rf.EXIT_BAD_INPUT
    assert os.path.exists(ckpt + ".index")


# ---------------------------------------------------------------------------------------------
# 3. metrics.csv ending in a cut row


def test_resume_drops_a_cut_last_metrics_row_before_appending(tmp_path):
    path = str(tmp_path / "metrics.csv")
    with open(path, "w") as f:
        f.write("global_id,fid\r\n9,1.500000000000\r\n19,2.5")  # cut mid-row
    csv = MetricsCsv(path, ["fid"])
    csv.truncate_after(19)
    csv.append(19, {"fid": 3.0})
    assert read(path).splitlines() == ["global_id,fid", "9,1.500000000000", "19,3.000000000000"]


def test_append_never_merges_with_a_cut_row(tmp_path):
    path = str(tmp_path / "metrics.csv")
    with open(path, "w") as f:
        f.write("global_id,a,b\r\n9,1.0,2.0\r\n19,1.0")  # no line end, too few fields
    MetricsCsv(path, ["a", "b"]).append(29, {"a": 1.0, "b": 2.0})
    rows = [line.split(",") for line in read(path).splitlines()]
    assert [r[0] for r in rows] == ["global_id", "9", "29"] and all(len(r) == 3 for r in rows)


def test_truncate_drops_a_complete_looking_row_with_wrong_field_count(tmp_path):
    path = str(tmp_path / "metrics.csv")
    with open(path, "w") as f:
        f.write("global_id,a,b\r\n9,1.0,2.0\r\n19,1.0\r\n")
    MetricsCsv(path, ["a", "b"]).truncate_after(100)
    assert read(path).splitlines() == ["global_id,a,b", "9,1.0,2.0"]


# ---------------------------------------------------------------------------------------------
# 4. pickled code in a CIFAR tarball


class _RunsCode:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_tarball(path: str, marker: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    blob = pickle.dumps({b"data": _RunsCode(marker), b"labels": [0]}, protocol=2)
    with tarfile.open(path, "w:gz") as tar:
        for i in range(1, 6):
            info = tarfile.TarInfo(f"cifar-10-batches-py/data_batch_{i}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def test_training_loader_refuses_pickled_code(tmp_path):
    from gan.dataset_files import DataError, load_images

    marker = str(tmp_path / "pwned")
    path = str(tmp_path / "data" / "CIFAR10" / "cifar-10-python.tar.gz")
    _evil_tarball(path, marker)
    with pytest.raises(DataError) as err:
        load_images("cifar10", str(tmp_path / "data"))
    assert path in str(err.value) and "system" in str(err.value)
    assert not os.path.exists(marker)


def test_preprocessing_script_refuses_pickled_code(tmp_path):
    marker = str(tmp_path / "pwned")
    path = str(tmp_path / "evil.tar.gz")
    _evil_tarball(path, marker)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "datasets.cifar10",
            f"--source={path}",
            f"--output={tmp_path / 'out' / 'c.tar.gz'}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and path in errors[0] and "Traceback" not in out.stderr
    assert not os.path.exists(marker)


def test_every_pickle_read_goes_through_the_restricted_unpickler():
    offenders = []
    for folder in ("gan", "datasets"):
        for parent, _, names in os.walk(os.path.join(REPO_ROOT, folder)):
            for name in names:
                if name.endswith(".py") and name != "safe_pickle.py":
                    text = read(os.path.join(parent, name))
                    if re.search(r"(?<![\w.])pickle\.(loads?|Unpickler)\(", text):
                        offenders.append(name)
    assert offenders == []


# ---------------------------------------------------------------------------------------------
# 5. pre-flight checks


def _data_task(tmp_path, data_root, **global_config) -> str:
    cfg = {
        "iteration": 10,
        "mg": 4,
        "data_root": str(data_root),
        "metrics": ["swd"],
        **global_config,
    }
    return write_task(
        tmp_path,
        scheduler={"gpu": ["0"], "result_root_folder": "res"},
        global_config=cfg,
        test_config=[{"run": [0]}],
    )


def _refused(result, *words):
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in errors[0], (word, errors[0])


@pytest.mark.parametrize(
    "extra,words",
    [
        ({"dataset": "cifar10", "metrics": ["fidd"]}, ["unknown metric 'fidd'"]),
        ({"dataset": "stl10", "mg": 4}, ["mg = 4", "48x48", "use mg = 6"]),
        (
            {
                "dataset": "imagenet",
                "network": "resnet",
                "d_batch_size": 4,
                "g_batch_size": 4,
                "precision": "mixed_bfloat16",
            },
            ["mixed_bfloat16"],
        ),
    ],
)
def test_config_combinations_are_refused_before_anything_starts(tmp_path, extra, words):
    task_dir = _data_task(tmp_path, tmp_path / "data", **extra)
    for args in ((), ("--dry_run",)):
        result = cli(task_dir, *args)
        _refused(result, task_dir, *words)
        assert not os.path.exists(os.path.join(task_dir, "res"))


def _npy(path, shape, dtype=np.uint8, cut=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, np.zeros(shape, dtype))
    if cut:
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) - cut)


@pytest.mark.parametrize(
    "dataset,mg,make,words",
    [
        ("cifar10", 4, None, ["CIFAR10/cifar-10-python.tar.gz not found"]),
        ("cifar10", 4, "cut_tarball", ["truncated or not a .tar.gz"]),
        ("cifar10", 4, "four_batches", ["lacks cifar-10-batches-py/data_batch_5"]),
        ("stl10", 6, lambda p: _npy(p, (4, 32, 32, 3)), ["(4, 32, 32, 3)", "[N, 48, 48, 3]"]),
        ("stl10", 6, lambda p: _npy(p, (4, 48, 48, 3), np.int32), ["dtype int32", "uint8"]),
        ("celeba", 8, lambda p: _npy(p, (4, 64, 64, 3), cut=100), ["truncated"]),
        ("imagenet", None, None, ["ImageNet not found"]),
    ],
)
def test_data_problems_are_refused_before_anything_starts(tmp_path, dataset, mg, make, words):
    from gan.dataset_files import dataset_path

    data_root = tmp_path / "data"
    data_root.mkdir()
    if dataset != "imagenet":
        path = dataset_path(dataset, str(data_root))
    if make == "cut_tarball":
        write_cifar_tarball(path, per_batch=10)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    elif make == "four_batches":
        os.makedirs(os.path.dirname(path))
        with tarfile.open(path, "w:gz") as tar:
            for i in range(1, 5):
                info = tarfile.TarInfo(f"cifar-10-batches-py/data_batch_{i}")
                tar.addfile(info, io.BytesIO(b""))
    elif make is not None:
        make(path)
    extra = (
        {"network": "resnet", "d_batch_size": 4, "g_batch_size": 4} if mg is None else {"mg": mg}
    )
    task_dir = _data_task(tmp_path, data_root, dataset=dataset, **extra)
    _refused(cli(task_dir), *words)
    assert not os.path.exists(os.path.join(task_dir, "res"))
    # a dry run plans (perhaps on a machine without the data): a warning line, exit 0
    dry = cli(task_dir, "--dry_run")
    assert dry.returncode == 0 and "Traceback" not in dry.stderr
    assert any(
        line.startswith("warning: ") and words[0] in line for line in dry.stderr.splitlines()
    )


def test_preflight_passes_good_data_without_importing_tensorflow(tmp_path, cifar_root):
    data_root, _ = cifar_root
    code = textwrap.dedent(f"""
        import sys
        from gan.tasks import load_task
        from gan.preflight import check_runs
        task = load_task({_data_task(tmp_path, data_root, dataset="cifar10")!r})
        check_runs(task.runs)
        assert "tensorflow" not in sys.modules
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr


FAILING_RUN = textwrap.dedent(f"""
    import os, sys
    sys.path.insert(0, {REPO_ROOT!r})
    from gan import run_folder as rf
    run_dir = sys.argv[sys.argv.index("--run_dir") + 1]
    print("error: /data/x.npy: dtype int32, expected uint8", file=sys.stderr)
    rf.update_status(run_dir, **rf.process_status(
        rf.FAILED, exit_code=2, error="/data/x.npy: dtype int32, expected uint8"))
    sys.exit(2)
""")


def test_a_run_failing_with_bad_input_shows_its_error_and_exits_2(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(FAILING_RUN)
    task = load_task(write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0]}]))
    code, console = run_scheduler(task, [sys.executable, str(script)])
    assert code == rf.EXIT_BAD_INPUT
    line = next(x for x in console.splitlines() if " failed on " in x)
    assert "error: /data/x.npy: dtype int32, expected uint8" in line


# ---------------------------------------------------------------------------------------------
# 6. SIGTERM during a metric evaluation

SLOW_METRIC_RUN = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {repo!r})
    import numpy as np
    from gan.config import validate_run_config
    from gan.metrics.base import MetricCallback
    from gan.run import install_stop_handlers
    from gan.run_folder import EXIT_INTERRUPTED
    from gan.trainer import Trainer

    run_dir, slow_at = sys.argv[1], int(sys.argv[2])

    class SlowMean(MetricCallback):
        '''Mean of 64 generated images; at iteration slow_at it generates for ~10 minutes.'''
        def columns(self):
            return ["mean"]
        def evaluate(self, context, global_id):
            values = context.sample(64)
            if global_id == slow_at:
                open(os.path.join(run_dir, "evaluating"), "w").close()
                for _ in range(60000):
                    context.sample(2)
                    time.sleep(0.01)
            return {{"mean": float(np.mean(values))}}

    cfg = validate_run_config(dict(dataset="cifar10", iteration=8, mg=4, batch_size=4,
        vis_freq=100, vis_num_h=1, vis_num_w=2, metric_freq=2, save_checkpoint_freq=100,
        metrics=[], time_freq=100, summary_freq=100, seed=5))
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    trainer = Trainer(cfg, run_dir, images, metric_callbacks=[SlowMean()], seed=5)
    install_stop_handlers(trainer)
    sys.exit(0 if trainer.train() else EXIT_INTERRUPTED)
""")


def _final_weights(run_dir):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(os.path.join(run_dir, "checkpoint", "model-7"))
    return {
        n: reader.get_tensor(n)
        for n in reader.get_variable_to_shape_map()
        if "save_counter" not in n and not n.startswith("_CHECKPOINTABLE")
    }


def test_sigterm_during_an_evaluation_checkpoints_at_once_and_the_resume_redoes_it(tmp_path):
    script = tmp_path / "slow_run.py"
    script.write_text(SLOW_METRIC_RUN.format(repo=REPO_ROOT))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_DETERMINISTIC_OPS="1")

    def run(run_dir, slow_at):
        return subprocess.Popen(
            [sys.executable, str(script), str(run_dir), str(slow_at)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    stopped = tmp_path / "stopped"
    stopped.mkdir()
    proc = run(stopped, 3)
    deadline = time.time() + 300
    while not (stopped / "evaluating").exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[0]
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    # The slow evaluation alone runs for ~10 minutes: only an abandoned one ends in time.
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == rf.EXIT_INTERRUPTED, out
    ckpt = stopped / "checkpoint"
    assert (ckpt / "model-3.index").exists()
    assert json.loads((ckpt / rf.PENDING_FILE).read_text()) == {
        "global_id": 3,
        "stages": ["metrics"],
    }
    rows = read(stopped / "metrics.csv").splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["1"]  # 3's evaluation was abandoned
    # the line this stop printed is what the report reads when status.json cannot be: an
    # interrupted run, not a crashed one (issue 34)
    (stopped / "worker.log").write_text(out)
    assert legacy_log_state(str(stopped), "worker.log", None) == (rf.INTERRUPTED, None)

    resumed = run(stopped, -1)
    out = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, out
    assert not (ckpt / rf.PENDING_FILE).exists()
    reference = tmp_path / "reference"
    reference.mkdir()
    ref = run(reference, -1)
    out = ref.communicate(timeout=300)[0]
    assert ref.returncode == 0, out
    assert read(stopped / "metrics.csv") == read(reference / "metrics.csv")
    assert [r.split(",")[0] for r in read(stopped / "metrics.csv").splitlines()[1:]] == [
        "1",
        "3",
        "5",
        "7",
    ]
    a, b = _final_weights(str(stopped)), _final_weights(str(reference))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------
# 7. outputs get the umask's mode


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_atomic_outputs_get_the_mode_the_umask_gives(tmp_path, mask):
    from datasets.common import save_npy

    old = os.umask(mask)
    try:
        path = str(tmp_path / "out.npy")
        save_npy(path, np.zeros(3, np.uint8))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_the_cached_inception_graph_gets_the_mode_the_umask_gives(tmp_path, monkeypatch, mask):
    """A shared cache's graph must be readable by other users' jobs: the download is
    written through a 0600 temporary file, then given the umask's mode."""
    from gan.metrics import inception as inc
    from tests.inception_stub import stub_inception_graph_def

    data = stub_inception_graph_def().SerializeToString()
    archive = tmp_path / "frozen.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(inc.INCEPTION_PB)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    monkeypatch.setenv("BSN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BSN_INCEPTION_URL", archive.as_uri())
    monkeypatch.delenv("BSN_INCEPTION_GRAPH", raising=False)
    old = os.umask(mask)
    try:
        path = inc.find_inception_graph(None)
    finally:
        os.umask(old)
    assert path == str(tmp_path / "cache" / inc.INCEPTION_PB)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask
    assert os.listdir(tmp_path / "cache") == [inc.INCEPTION_PB]


# ---------------------------------------------------------------------------------------------
# 8. the smaller ones


def test_results_root_that_cannot_be_written_is_an_error_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    task_dir = _root_task(tmp_path, dataset="shapes")
    _refused(
        cli(task_dir, "--results_dir", str(blocker / "res")), str(blocker / "res"), "cannot write"
    )


def test_unwritable_results_root_in_process(tmp_path, monkeypatch):
    import errno

    task = load_task(_root_task(tmp_path, dataset="shapes"))

    def read_only(path, *a, **kw):
        raise OSError(errno.EROFS, "Read-only file system", path)

    monkeypatch.setattr(os, "makedirs", read_only)
    with pytest.raises(ConfigError, match="cannot write there .Read-only file system"):
        Scheduler(task, command=["true"], handle_signals=False, console=io.StringIO()).start()


def test_a_run_that_dies_after_an_interruption_is_recorded_crashed_not_interrupted(
    tmp_path, fake, monkeypatch
):
    task = load_task(write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0]}]))
    run_dir = task.runs[0].run_dir
    os.makedirs(run_dir)
    rf.update_status(run_dir, rf.INTERRUPTED, exit_code=rf.EXIT_INTERRUPTED)
    monkeypatch.setenv("FAKE_MODE", "crash")  # e.g. a folder it cannot write: exit 1
    code, console = run_scheduler(task, fake)
    assert code == rf.EXIT_CRASHED and events(console, "crashed on") == 1
    status = rf.read_status(run_dir)
    assert (status.state, status.exit_code) == (rf.CRASHED, 1)


def test_status_is_written_in_place_when_the_folder_is_read_only(tmp_path, fake, monkeypatch):
    import gan.scheduler as scheduler
    import gan.unreported_endings as endings

    task = load_task(write_task(tmp_path, test_config=[{"dataset": ["cifar10"], "run": [0]}]))
    run_dir = task.runs[0].run_dir
    os.makedirs(run_dir)
    rf.update_status(run_dir, rf.INTERRUPTED, exit_code=rf.EXIT_INTERRUPTED)

    def no_rename(*a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(endings, "update_status", no_rename)
    monkeypatch.setattr(scheduler, "write_json_atomic", no_rename)  # config.json cannot be made
    code, console = run_scheduler(task, fake)
    assert code == rf.EXIT_CRASHED and "Permission denied" in console
    status = rf.read_status(run_dir)
    assert status.state == rf.CRASHED and "Permission denied" in status.error


def test_failed_checkpoint_write_leaves_no_temp_folder(tmp_path, monkeypatch):
    from gan.trainer import Trainer

    trainer = Trainer(_tiny_config(iteration=2), str(tmp_path), IMAGES, seed=3)
    ckpt = os.path.join(str(tmp_path), "checkpoint")
    os.makedirs(os.path.join(ckpt, "model-0_temp"))  # left by an earlier full disk
    original = trainer.manager.save

    def full_disk(**kw):
        os.makedirs(os.path.join(ckpt, "model-1_temp"), exist_ok=True)
        raise OSError(28, "No space left on device")

    trainer.manager.save = full_disk
    with pytest.raises(OSError):
        trainer.save(1)
    assert not [n for n in os.listdir(ckpt) if n.endswith("_temp")]
    trainer.manager.save = original
    trainer.save(1)
    assert not [n for n in os.listdir(ckpt) if n.endswith("_temp")]


def test_report_temporaries_of_a_failed_report_are_removed(tmp_path):
    report = tmp_path / "report" / "figures"
    report.mkdir(parents=True)
    (report / f"fid.png.tmp.{os.getpid()}").write_text("")
    (report.parent / f"summary.csv.tmp.{os.getpid()}").write_text("")
    (report.parent / "summary.csv.tmp.1").write_text("")  # another process's: not ours
    removed = rf.remove_temporaries(str(tmp_path / "report"), os.getpid())
    assert len(removed) == 2 and sorted(os.listdir(report.parent)) == [
        "figures",
        "summary.csv.tmp.1",
    ]


@pytest.mark.parametrize("gpu", ["['']", "[' ']", "[['0', '']]", "[[]]"])
def test_empty_gpu_ids_are_refused(tmp_path, gpu):
    task = load_task(write_task(tmp_path))
    with pytest.raises(ConfigError, match="--gpu"):
        with_gpu_entries(task, gpu)


def test_empty_gpu_flag_value_through_main(tmp_path):
    _refused(cli(write_task(tmp_path), "--dry_run", "--gpu", "['']"), "--gpu", "empty GPU id")


def test_empty_results_dir_is_refused(tmp_path):
    _refused(cli(write_task(tmp_path), "--dry_run", "--results_dir", ""), "--results_dir")


def test_empty_test_config_is_an_error(tmp_path):
    task_dir = write_task(
        tmp_path,
        text="config = {'scheduler_config': {'gpu': ['0']}, "
        "'global_config': {'dataset': 'shapes', 'mg': 4, "
        "'iteration': 5}, 'test_config': []}\n",
    )
    _refused(cli(task_dir), os.path.join(task_dir, "config.py"), "test_config is empty")


# ---------------------------------------------------------------------------------------------
# runs that share a GPU


def test_memory_growth_is_set_on_every_gpu_before_anything_else(monkeypatch):
    import tensorflow as tf

    from gan import run
    from gan.config import validate_run_config

    calls = []
    fake_gpus = [tf.config.PhysicalDevice(f"/physical_device:GPU:{i}", "GPU") for i in range(2)]
    monkeypatch.setattr(
        tf.config,
        "list_physical_devices",
        lambda kind=None: calls.append(("list", kind)) or list(fake_gpus),
    )
    monkeypatch.setattr(
        tf.config.experimental,
        "set_memory_growth",
        lambda device, on: calls.append(("growth", device.name, on)),
    )
    monkeypatch.setattr(
        tf.config.threading,
        "set_inter_op_parallelism_threads",
        lambda n: calls.append(("threads", n)),
    )
    monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: 0)
    config = validate_run_config(
        {"dataset": "shapes", "mg": 4, "iteration": 1, "inter_op_threads": 2}
    )
    assert config.gpu_memory_growth is True
    run.configure_runtime(config)
    assert calls == [
        ("list", "GPU"),
        ("growth", "/physical_device:GPU:0", True),
        ("growth", "/physical_device:GPU:1", True),
        ("threads", 2),
    ]
    calls.clear()
    run.configure_runtime(config.replace(gpu_memory_growth=False))
    assert not [c for c in calls if c[0] == "growth"]


def test_configure_runtime_comes_before_the_first_op_of_a_run(tmp_path, monkeypatch):
    from gan import run

    order = []
    monkeypatch.setattr(run, "configure_runtime", lambda cfg: order.append("runtime"))
    monkeypatch.setattr(run, "run_seed", lambda cfg, d: order.append("seed") or 0)

    def stop(*a, **kw):
        order.append("metrics")
        raise RuntimeError("stop here")

    monkeypatch.setattr("gan.metrics.registry.build_metrics", stop)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"dataset": "shapes", "mg": 4, "iteration": 1}))
    with pytest.raises(RuntimeError, match="stop here"):
        run.train_run(str(run_dir))
    assert order == ["runtime", "seed", "metrics"]


def test_two_workers_on_the_same_gpu_run_side_by_side(tmp_path, fake, monkeypatch):
    shared = tmp_path / "starts.txt"
    # each fake run waits until both have started: only concurrent workers get past it
    waiting = tmp_path / "wait_run.py"
    waiting.write_text(
        FAKE_RUN.replace(
            'mode = os.environ.get("FAKE_MODE", "complete")',
            (
                "import time as _t\n"
                "deadline = _t.time() + 60\n"
                'shared = os.environ["FAKE_SHARED"]\n'
                "while open(shared).read().count('\\n') < 2 and _t.time() < deadline:\n"
                "    _t.sleep(0.05)\n"
                'assert open(os.environ["FAKE_SHARED"]).read().count("\\n") >= 2, "ran alone"\n'
                'mode = os.environ.get("FAKE_MODE", "complete")'
            ),
        )
    )
    monkeypatch.setenv("FAKE_SHARED", str(shared))
    task = load_task(
        write_task(
            tmp_path,
            scheduler={"gpu": ["0", "0"], "result_root_folder": "res"},
            test_config=[{"dataset": ["cifar10"], "run": [0, 1]}],
        )
    )
    code, console = run_scheduler(task, [sys.executable, str(waiting)])
    assert code == 0, console
    assert sorted(read(shared).split()) == sorted(r.name for r in task.runs)
    for r in task.runs:
        assert read(os.path.join(r.run_dir, "attempts.txt")) == "0\n"
