"""A real run through ``main.py``: Ctrl-C, SIGTERM and kill -9 mid-run, resumes, outputs, and an
end state identical to an uninterrupted run's."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import tensorflow as tf
from PIL import Image

from tests.helpers import assert_identical_checkpoints, pause_env, wait_for_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITER = 18
RUN = "run-0,"


def _task(tmp_path, data_root):
    """Like the paper's tasks: no seed in the config, so the run draws one (seed.json).
    Diagnostics every 4th iteration (a resume lands between them); samples, kept checkpoints
    (with their metrics rows) and time lines every 6th, 9th and 6th."""
    task = tmp_path / "e2e_task"
    task.mkdir()
    (task / "config.py").write_text(
        textwrap.dedent(f"""
        config = {{
            "scheduler_config": {{"gpu": ["0"]}},
            "global_config": {{
                "dataset": "cifar10", "data_root": {str(data_root)!r}, "mg": 4,
                "iteration": {ITER}, "batch_size": 8, "vis_freq": 6, "vis_num_h": 2,
                "vis_num_w": 5, "summary_freq": 4, "metric_freq": 2,
                "save_checkpoint_freq": 3, "extra_checkpoint_freq": 9, "time_freq": 6,
                "metrics": ["swd"], "swd_num_samples": 32, "swd_patches_per_image": 8,
                "network_width": 0.25,
            }},
            "test_config": [{{"run": range(1)}}],
        }}
    """)
    )
    return task


def _main(task, results, *args, env=None):
    cmd = [
        sys.executable,
        os.path.join(REPO, "main.py"),
        str(task),
        "--results_dir",
        str(results),
        *args,
    ]
    # Deterministic kernels: the end states are compared bit for bit.
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        TF_DETERMINISTIC_OPS="1",
        **(env or {}),
    )
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finished(proc, code, timeout=600):
    """The console output of ``proc``, which must exit with ``code``."""
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == code, out
    return out


def _metric_rows(run_dir):
    return [line.split(",")[0] for line in (run_dir / "metrics.csv").read_text().splitlines()]


def test_run_survives_ctrl_c_sigterm_and_kill_9_and_ends_as_an_uninterrupted_run(
    tmp_path, cifar_root
):
    """The seed a run draws is kept in seed.json and reread by every resume; Ctrl-C (SIGINT
    to the scheduler) and SIGTERM (to the scheduler) checkpoint and stop; kill -9 of the
    training process loses only the iterations since its last checkpoint, and the resume cuts
    metrics.csv back to it. The run then writes every output and ends bit-identical to an
    uninterrupted run of the same seed, metrics.csv too. (One run folder for all three
    interruptions: each main.py start costs a TensorFlow start, the data and a trace.)"""
    data_root, _ = cifar_root
    task = _task(tmp_path, data_root)
    res = tmp_path / "res"
    run_dir = res / RUN
    ckpt = run_dir / "checkpoint"

    # Ctrl-C: SIGINT to the scheduler while the run is held after writing model-2.
    held = tmp_path / "held-sigint"
    p = _main(task, res, env=pause_env("save", 2, str(held)))
    wait_for_file(str(held), p)
    p.send_signal(signal.SIGINT)
    out = _finished(p, 128 + signal.SIGINT, timeout=300)
    assert "scheduler got SIGINT: sending SIGINT to 1 running runs" in out
    assert "interrupted 1" in out
    assert "signal 2: stopping after this iteration" in (run_dir / "worker.log").read_text()
    assert tf.train.latest_checkpoint(str(ckpt)).endswith("model-2")
    seed = json.loads((run_dir / "seed.json").read_text())["seed"]
    assert json.loads((run_dir / "config.json").read_text())["seed"] is None

    # kill -9 of the training process, held after writing metrics row 7 (checkpoint 5).
    held = tmp_path / "held-kill"
    p = _main(task, res, env=pause_env("log_metrics", 7, str(held)))
    wait_for_file(str(held), p)
    assert _metric_rows(run_dir) == ["global_id", "1", "3", "5", "7"]
    assert tf.train.latest_checkpoint(str(ckpt)).endswith("model-5")
    os.kill(int(held.read_text()), signal.SIGKILL)
    out = _finished(p, 1, timeout=300)
    assert "killed by signal 9" in out

    # SIGTERM to the scheduler while the resumed run (model-5 restored, row 7 dropped and
    # written again) is held after writing model-14.
    held = tmp_path / "held-sigterm"
    p = _main(task, res, env=pause_env("save", 14, str(held)))
    wait_for_file(str(held), p)
    p.send_signal(signal.SIGTERM)
    out = _finished(p, 128 + signal.SIGTERM, timeout=300)
    assert "interrupted 1" in out
    assert not (run_dir / "COMPLETED").exists()
    assert tf.train.latest_checkpoint(str(ckpt)).endswith("model-14")
    assert _metric_rows(run_dir)[1:] == ["1", "3", "5", "7", "8", "9", "11", "13"]

    # The last resume rereads seed.json, restores model-14 and runs to the end.
    _finished(_main(task, res), 0)
    log = (run_dir / "worker.log").read_text()
    assert re.findall(r"seed (\d+)", log) == [str(seed)] * 4
    assert "restored" in log and "signal 15: stopping after this iteration" in log
    assert json.loads((run_dir / "seed.json").read_text()) == {"seed": seed}

    # Every output is present and well-formed.
    assert (run_dir / "COMPLETED").is_file()
    assert sorted(os.listdir(run_dir / "sample")) == [  # every 6th, and the kept checkpoint 8
        "global_id-11.png",
        "global_id-17.png",
        "global_id-5.png",
        "global_id-8.png",
    ]
    assert Image.open(run_dir / "sample" / "global_id-17.png").size == (5 * 32, 2 * 32)
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["global_id", "swd"]
    # every 2nd iteration, and at the kept checkpoints 8 and 17 (17 twice: both reasons)
    assert [r[0] for r in rows[1:]] == ["1", "3", "5", "7", "8", "9", "11", "13", "15", "17", "17"]
    assert all(len(r[1].split(".")[1]) == 12 for r in rows[1:])
    ckpt_files = set(os.listdir(ckpt))
    assert {f"model-{n}.index" for n in (8, 11, 14, 17)} <= ckpt_files
    assert len([n for n in ckpt_files if n.endswith(".index")]) == 5  # the 5 latest
    assert (ckpt / "global_id-8" / "model-8.index").is_file()
    assert (ckpt / "global_id-17" / "model-17.index").is_file()
    assert any(n.startswith("events.out.tfevents") for n in ckpt_files)
    times = (run_dir / "time.txt").read_text()
    assert "iter 0 starts:" in times and f"iter {ITER - 1} ends:" in times

    # An uninterrupted run with that seed set in its config ends in the same state.
    ref = tmp_path / "ref"
    _finished(_main(task, ref, "--set", f"seed={seed}"), 0)
    final = os.path.join(RUN, "checkpoint", f"model-{ITER - 1}")
    assert_identical_checkpoints(str(ref / final), str(res / final))
    assert (run_dir / "metrics.csv").read_bytes() == (ref / RUN / "metrics.csv").read_bytes()


def test_bad_dataset_file_stops_the_run_with_a_clear_error(tmp_path):
    task = _task(tmp_path, tmp_path / "no_data")
    p = _main(task, tmp_path / "out")
    out, _ = p.communicate(timeout=300)
    assert p.returncode != 0
    # Issue 19: the scheduler's pre-flight finds it before any run starts: the same error
    # line on the console, exit 2, and no run folder (formerly only in the run's worker.log).
    assert p.returncode == 2
    assert "error: cifar10:" in out and "cifar-10-python.tar.gz not found" in out
    assert "Traceback" not in out
    assert not (tmp_path / "out").exists()
