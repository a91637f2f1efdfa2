"""Builders of tiny real-format inputs shared by the tests."""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile

import numpy as np

from gan.config import RunConfig, validate_run_config


def run_config(**keys) -> RunConfig:
    """A validated run config of the CIFAR-10 CNN (mg 4, one iteration) with ``keys`` set."""
    return validate_run_config({"dataset": "cifar10", "mg": 4, "iteration": 1, **keys})


class Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: ``bytes`` (Python 2's ``str``) as BINSTRING, as in the
    real CIFAR-10 batches, where Python 3 writes ``_codecs.encode(latin-1 text)`` (which loads
    ~20x slower: a second a 30 MB batch)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def python2_pickle(obj) -> bytes:
    """``obj`` pickled as Python 2's ``cPickle.dump(obj, f, 2)`` wrote it (see Python2Pickler)."""
    out = io.BytesIO()
    Python2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


def write_cifar_tarball(path: str, per_batch: int = 10000, seed: int = 0) -> np.ndarray:
    """A ``cifar-10-python.tar.gz`` with 5 data_batch pickles written as the real ones were
    (Python 2, protocol 2); returns the NHWC images."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 256, (5 * per_batch, 3072), dtype=np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tarfile.open(path, "w:gz", compresslevel=0) as tar:  # random bytes: nothing to gain
        for i in range(5):
            blob = python2_pickle(
                {
                    b"batch_label": b"training batch",
                    b"labels": [0] * per_batch,
                    b"data": rows[i * per_batch : (i + 1) * per_batch],
                }
            )
            info = tarfile.TarInfo(f"cifar-10-batches-py/data_batch_{i + 1}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


#: A tiny CNN run on the generated shapes, with every metric training can log without a download
#: (IS and FID on the stub Inception graph, SWD): 4 iterations, checkpoints model-1 and model-3,
#: kept global_id-1 and global_id-3, metrics rows at 1 and 3 (the CNN also logs them at a kept
#: checkpoint, so 3 has two identical rows).
TINY_RUN_CONFIG = {
    "dataset": "shapes",
    "mg": 4,
    "iteration": 4,
    "batch_size": 8,
    "seed": 5,
    "vis_freq": 2,
    "vis_num_h": 2,
    "vis_num_w": 2,
    "summary_freq": 1,
    "metric_freq": 4,
    "save_checkpoint_freq": 2,
    "extra_checkpoint_freq": 2,
    "time_freq": 2,
    "metrics": ["inception_score", "fid", "swd"],
    "metric_batch_size": 16,
    "is_num_samples": 32,
    "is_num_splits": 2,
    "fid_num_samples": 32,
    "fid_num_real": 32,
    "swd_num_samples": 32,
    "swd_patches_per_image": 8,
}


def write_stub_inception_graph(path: str) -> str:
    """The small frozen graph with the Inception tensor names (``stub_inception_graph_def``)."""
    from tests.inception_stub import stub_inception_graph_def

    with open(path, "wb") as f:
        f.write(stub_inception_graph_def(depth=16).SerializeToString())
    return path


def train_tiny_run(run_dir: str, inception_graph: str, **overrides) -> str:
    """Train ``TINY_RUN_CONFIG`` (with ``overrides``) in ``run_dir`` through ``gan.run``, in
    this process; returns ``run_dir``."""
    import json

    from gan.run import train_run

    os.makedirs(run_dir, exist_ok=True)
    config = dict(TINY_RUN_CONFIG, inception_graph=inception_graph, **overrides)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f)
    if train_run(run_dir) != 0:
        raise RuntimeError(f"the tiny run in {run_dir} did not complete")
    return run_dir


HOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks")


def pause_env(method: str, global_id: int, marker: str) -> dict[str, str]:
    """Environment entries that hold every run process the scheduler starts right after its
    first ``Trainer.<method>(global_id)`` (``save`` or ``log_metrics``) until a stop is
    requested or it is killed; it writes its pid to ``marker`` then (tests/hooks/)."""
    path = os.pathsep.join(p for p in (HOOKS, os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "BSN_TEST_PAUSE": f"{method}:{global_id}:{marker}"}


def offline_env() -> dict[str, str]:
    """Environment entries under which a Python process can open no TCP connection
    (tests/hooks/): a download-or-fail path then takes its offline branch on every machine."""
    path = os.pathsep.join(p for p in (HOOKS, os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "BSN_TEST_OFFLINE": "1"}


def wait_for_file(path: str, proc, timeout: float = 600.0) -> None:
    """Wait until ``path`` exists; fail at once if ``proc`` ends first (the deadline is a
    safety net only)."""
    import time

    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise AssertionError(
                f"ended (exit {proc.returncode}) before {path} appeared:\n"
                + (proc.communicate()[0] or "")
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def checkpoint_tensors(prefix: str) -> dict[str, np.ndarray]:
    """Every tensor of checkpoint ``prefix`` but the save counter, by name."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    return {
        n: reader.get_tensor(n)
        for n in reader.get_variable_to_shape_map()
        if "save_counter" not in n and not n.startswith("_CHECKPOINTABLE")
    }


def assert_identical_checkpoints(a: str, b: str) -> None:
    """Checkpoints ``a`` and ``b`` hold the same tensors, bit for bit."""
    x, y = checkpoint_tensors(a), checkpoint_tensors(b)
    assert x.keys() == y.keys() and len(x) > 50
    different = [n for n in x if not np.array_equal(x[n], y[n])]
    assert not different, f"{len(different)} of {len(x)} tensors differ, e.g. {different[:5]}"
