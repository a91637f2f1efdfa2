"""Process-wide TensorFlow settings a run applies before its first op (gan/run.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gan.config import REPO_ROOT, ConfigError, validate_run_config

PROBE = """
import tensorflow as tf
from gan.run import configure_runtime
from tests.helpers import run_config
applied = configure_runtime(run_config(**{config!r}))
tf.zeros([1])
print(len(tf.config.list_physical_devices("GPU")), applied,
      tf.config.threading.get_inter_op_parallelism_threads())
"""


def _applied(config: dict) -> list[int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(config=config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return [int(v) for v in out.stdout.split()[-3:]]


def test_without_a_gpu_a_run_executes_one_op_at_a_time():
    gpus, applied, threads = _applied({})
    if gpus:
        assert applied == 0  # TensorFlow's default is left alone
    else:
        assert applied == threads == 1


def test_an_explicit_inter_op_thread_count_is_applied():
    assert _applied({"inter_op_threads": 3})[1:] == [3, 3]


def test_a_negative_inter_op_thread_count_is_a_config_error():
    with pytest.raises(ConfigError, match="inter_op_threads"):
        validate_run_config({"dataset": "cifar10", "iteration": 10, "inter_op_threads": -1})
