"""A real run through ``main.py``: outputs, SIGTERM mid-run, resume, identical end state."""

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import tensorflow as tf
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITER = 30
RUN = "run-0,sn_mode-BSN,"


def _task(tmp_path, data_root):
    task = tmp_path / "e2e_task"
    task.mkdir()
    (task / "config.py").write_text(textwrap.dedent(f"""
        config = {{
            "scheduler_config": {{"gpu": ["0"]}},
            "global_config": {{
                "dataset": "cifar10", "data_root": {str(data_root)!r}, "mg": 4,
                "iteration": {ITER}, "batch_size": 8, "vis_freq": 10, "vis_num_h": 2,
                "vis_num_w": 5, "summary_freq": 1, "metric_freq": 10,
                "save_checkpoint_freq": 5, "extra_checkpoint_freq": 20, "time_freq": 10,
                "metrics": ["swd"], "swd_num_samples": 64, "seed": 11,
                "network_width": 0.25,
            }},
            "test_config": [{{"sn_mode": ["BSN"], "run": range(1)}}],
        }}
    """))
    return task


def _main(task, results, **kw):
    cmd = [sys.executable, os.path.join(REPO, "main.py"), str(task), "--results_dir",
           str(results)]
    # Deterministic kernels: the end states are compared to float32 round-off.
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2",
               TF_DETERMINISTIC_OPS="1")
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def _final_state(run_dir):
    reader = tf.train.load_checkpoint(os.path.join(run_dir, "checkpoint", f"model-{ITER - 1}"))
    names = [n for n in reader.get_variable_to_shape_map()
             if "save_counter" not in n and not n.startswith("_CHECKPOINTABLE")]
    return {n: reader.get_tensor(n) for n in names}


def test_main_runs_interrupts_resumes_and_matches_an_uninterrupted_run(tmp_path, cifar_root):
    data_root, _ = cifar_root
    task = _task(tmp_path, data_root)

    # Uninterrupted reference.
    ref = _main(task, tmp_path / "ref")
    out, _ = ref.communicate(timeout=600)
    assert ref.returncode == 0, out
    ref_dir = tmp_path / "ref" / RUN

    # Interrupted at a checkpoint, then resumed by a second invocation.
    res = tmp_path / "res"
    p = _main(task, res)
    ckpt = res / RUN / "checkpoint" / "model-9.index"
    deadline = time.time() + 600
    while not ckpt.exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 128 + signal.SIGTERM, out  # the scheduler itself was signalled
    assert "interrupted 1" in out
    assert not (res / RUN / "COMPLETED").exists()
    again = _main(task, res)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    run_dir = res / RUN
    log = (run_dir / "worker.log").read_text()
    assert "restored" in log and "stopping after this iteration" in log

    # Every output is present and well-formed.
    assert (run_dir / "COMPLETED").is_file()
    assert sorted(os.listdir(run_dir / "sample")) == [
        "global_id-19.png", "global_id-29.png", "global_id-9.png"]
    assert Image.open(run_dir / "sample" / "global_id-29.png").size == (5 * 32, 2 * 32)
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["global_id", "swd"]
    assert [r[0] for r in rows[1:]] == ["9", "19", "19", "29"]  # 19: metric_freq and extra
    assert all(len(r[1].split(".")[1]) == 12 for r in rows[1:])
    ckpt_files = set(os.listdir(run_dir / "checkpoint"))
    assert {f"model-{n}.index" for n in (14, 19, 24, 29)} <= ckpt_files
    assert len([n for n in ckpt_files if n.endswith(".index")]) == 5  # the 5 latest
    assert (run_dir / "checkpoint" / "global_id-19" / "model-19.index").is_file()
    assert any(n.startswith("events.out.tfevents") for n in ckpt_files)
    times = (run_dir / "time.txt").read_text()
    assert "iter 0 starts:" in times and f"iter {ITER - 1} ends:" in times

    # Same end state as the uninterrupted run.
    a, b = _final_state(ref_dir), _final_state(run_dir)
    assert a.keys() == b.keys() and len(a) > 50
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-6, err_msg=name)
    with open(ref_dir / "metrics.csv") as f:
        ref_rows = list(csv.reader(f))
    assert [r[0] for r in ref_rows] == [r[0] for r in rows]


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
