"""Multi-device training (tf.distribute) and scheduling over devices and machines."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gan.config import ConfigError, validate_run_config
from gan.devices import make_strategy
from gan.tasks import load_task, parse_shard, select_runs, shard_runs, with_gpu_entries

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_two_replicas_match_one_and_stay_identical(tmp_path):
    """A D step over 2 logical CPUs equals the 1-device step; replicas never drift apart."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "two_replica_check.py"), str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    r = json.loads(lines[0][len("RESULT ") :])
    assert r["replicas"] == [1, 2] and r["strategy"] == "MirroredStrategy"
    assert r["initial"] == 0.0  # the same seed builds the same weights under both strategies
    # Same loss (mean of the replicas' means), averaged gradients and Adam state, new weights.
    assert r["loss"][1] == pytest.approx(r["loss"][0], rel=1e-5)
    assert r["grads"] <= 1e-5 * max(1.0, r["grad_scale"])
    assert r["d_optimizer"] <= 1e-5 * max(1.0, r["grad_scale"])
    assert r["weights"] <= 1e-6
    # Weights, u, gammas, BN statistics: mirrored and identical on both replicas.
    assert r["variable_kinds"] == {"MirroredVariable": 2}
    assert r["u_and_gamma_replicas"] == [2] and r["replica_spread"] == 0.0
    # Summaries and checkpoints once.
    assert r["scalar_writes"] == [1]
    assert {"loss/d", "loss/g", "d/gamma0", "d/sigma0_0_0", "memory/rss"} <= set(r["scalars"])
    assert r["samples"] == ["global_id-0.png"]
    assert r["restored_id"] == 0 and r["restored_diff"] == 0.0


def _resnet(**over):
    cfg = dict(dataset="imagenet", network="resnet", iteration=1, d_batch_size=16, g_batch_size=32)
    cfg.update(over)
    return validate_run_config(cfg)


def test_bad_device_and_batch_settings_are_config_errors():
    with pytest.raises(
        ConfigError, match="d_batch_size = 16 does not split evenly over num_gpus = 3 devices"
    ):
        _resnet(num_gpus=3)
    with pytest.raises(
        ConfigError, match="g_batch_size = 30 does not split evenly over num_gpus = 4"
    ):
        _resnet(num_gpus=4, g_batch_size=30)
    _resnet(num_gpus=4)
    with pytest.raises(ConfigError, match="jit_compile is not available"):
        _resnet(num_gpus=2, jit_compile=True)
    with pytest.raises(ConfigError, match="num_gpus = 2 but this process sees 0 GPU"):
        make_strategy(2)  # the test process hides every GPU
    with pytest.raises(ConfigError, match="num_gpus = 2 but 1 devices were given"):
        make_strategy(2, ["/cpu:0"])
    assert make_strategy(1).num_replicas_in_sync == 1


def _task(tmp_path, gpu, num_gpus):
    task = tmp_path / "multi"
    task.mkdir(exist_ok=True)
    (task / "config.py").write_text(
        textwrap.dedent(f"""
        config = {{
            "scheduler_config": {{"gpu": {gpu!r}}},
            "global_config": {{"dataset": "imagenet", "network": "resnet", "iteration": 10,
                               "d_batch_size": 16, "g_batch_size": 32}},
            "test_config": [{{"num_gpus": [{num_gpus}], "run": range(5),
                              "sn_mode": ["SN", "BSN"]}}],
        }}
    """)
    )
    return str(task)


def test_gpu_entries_must_hold_num_gpus_ids(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"has num_gpus = 2 but gpu entry 1 \('2'\) lists 1 "
        r"device id\(s\).*'gpu': \[\['0', '1'\], \['2', '3'\]\]",
    ):
        load_task(_task(tmp_path, [["0", "1"], "2"], 2))
    task = load_task(_task(tmp_path, [["0", "1"], ["2", "3"]], 2))
    assert task.gpus == ["0,1", "2,3"]  # CUDA_VISIBLE_DEVICES of each worker
    one = load_task(_task(tmp_path, ["0"], 1))
    with pytest.raises(ConfigError, match="num_gpus = 2 but gpu entry 0 \\('0'\\)"):
        select_runs(one, overrides="num_gpus=2")
    two = select_runs(with_gpu_entries(one, "[['0', '1']]"), overrides="num_gpus=2")
    assert two.gpus == ["0,1"] and all(r.config.num_gpus == 2 for r in two.runs)
    with pytest.raises(ConfigError, match="--gpu 0,1: expected a list"):
        with_gpu_entries(one, "0,1")


def test_shards_split_the_runs_disjointly_and_completely(tmp_path):
    runs = load_task(_task(tmp_path, ["0"], 1)).runs
    shards = [shard_runs(runs, f"{i}/3") for i in range(3)]
    assert [len(s) for s in shards] == [4, 3, 3]
    names = [r.name for s in shards for r in s]
    assert sorted(names) == sorted(r.name for r in runs) and len(set(names)) == len(runs)
    assert [r.name for r in shards[1]] == [runs[k].name for k in (1, 4, 7)]
    assert shard_runs(runs, "") == runs
    assert parse_shard("0/1") == (0, 1)
    for bad in ("3/3", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ConfigError, match="--shard"):
            parse_shard(bad)


def test_shard_flag_through_main(tmp_path):
    task = _task(tmp_path, ["0"], 1)
    cmd = [
        sys.executable,
        os.path.join(REPO, "main.py"),
        task,
        "--dry_run",
        "--results_dir",
        str(tmp_path / "out"),
    ]
    out = [
        subprocess.run(
            cmd + ["--shard", f"{i}/2"], capture_output=True, text=True, cwd=REPO, timeout=120
        )
        for i in range(2)
    ]
    assert all(p.returncode == 0 for p in out), [p.stderr for p in out]
    assert "5 runs in 5 folders" in out[0].stdout and "5 runs in 5 folders" in out[1].stdout
    bad = subprocess.run(
        cmd + ["--shard", "2/2"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert bad.returncode == 2 and "error: --shard '2/2'" in bad.stderr
