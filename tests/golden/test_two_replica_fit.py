"""``BSNGAN.fit`` over 2 replicas (MirroredStrategy on 2 logical CPUs, in a subprocess:
tests/golden/two_replica_fit.py) equals the one-device step: the replicas' losses are divided
by the replica count, so their summed gradients are the global batch's (TensorFlow only)."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.golden

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def test_two_replica_fit_step_equals_the_one_device_step():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "two_replica_fit.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    r = json.loads(lines[0][len("RESULT ") :])
    assert r["replicas"] == [1, 2]
    for name, (one, two) in r["losses"].items():  # means of O(1) values: float32 round-off
        assert two == pytest.approx(one, rel=1e-5, abs=1e-6), name
    # Adam's m and v are linear in the gradient and its square: a gradient summed over the
    # replicas without the division would make them 2x and 4x. Float32 round-off of the
    # all-reduce is ~1e-7 relative (measured 5e-7 on the largest element).
    assert r["slots_rel"] <= 1e-5
    assert r["weights"] <= 1e-6
