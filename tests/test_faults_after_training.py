"""``sample``, ``export`` and ``evaluate`` under faults (issue 24): a corrupt checkpoint, a run
without checkpoints or in a read-only folder, and ``--out`` onto an existing file; ``--out``
onto a run folder, into it or above it, and a config that no longer fits (issue 34)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.after_training import REPO, assert_one_error_line, cli, no_partial_files


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A per-test copy of the session's trained run (model-1, model-3, kept global_id-1 and
    global_id-3), without the eval/ other tests may have written."""
    path = str(tmp_path / "run")
    shutil.copytree(trained_run, path)
    shutil.rmtree(os.path.join(path, "eval"), ignore_errors=True)
    return path


def _cut(run_dir: str, *prefixes: str) -> None:
    """Cut the .data file of each checkpoint prefix in half (a node lost mid-write)."""
    for prefix in prefixes:
        data = os.path.join(run_dir, "checkpoint", prefix + ".data-00000-of-00001")
        with open(data, "r+b") as f:
            f.truncate(os.path.getsize(data) // 2)


LATEST_BOTH = ("model-3", "global_id-3/model-3")  # both copies of the latest checkpoint


def test_a_corrupt_latest_checkpoint_falls_back_in_sample_export_and_evaluate(
    run_copy, tmp_path, capsys
):
    _cut(run_copy, *LATEST_BOTH)
    ckpt = os.path.join(run_copy, "checkpoint")

    def warned_and_used(code):
        out = capsys.readouterr()
        assert code == 0, out.err
        assert "Traceback" not in out.err
        warnings = [x for x in out.err.splitlines() if x.startswith("warning:")]
        assert len(warnings) == 2, out.err
        assert os.path.join(ckpt, "model-3 ") in warnings[0] + " "
        assert os.path.join(ckpt, "global_id-3", "model-3 ") in warnings[1] + " "
        assert all("does not read completely" in w and "using model-1" in w for w in warnings)
        return out.out

    out = warned_and_used(cli("sample", run_copy, "--num", "4", "--out", str(tmp_path / "s.npy")))
    assert "of model-1" in out and np.load(tmp_path / "s.npy").shape == (4, 32, 32, 3)
    out = warned_and_used(cli("export", run_copy, "--out", str(tmp_path / "exported")))
    assert "exported model-1" in out
    assert "(model-1)" in (tmp_path / "exported" / "README.txt").read_text()
    out = warned_and_used(cli("evaluate", run_copy, "--metrics", "swd"))
    assert "model-1" in out
    with open(os.path.join(run_copy, "eval", "metrics.csv")) as f:
        rows = f.read().splitlines()
    assert len(rows) == 2 and rows[1].startswith("1,model-1,")
    # nothing of the run was renamed or deleted (training's resume sets a corrupt one aside)
    assert os.path.exists(os.path.join(ckpt, "model-3.data-00000-of-00001"))


@pytest.mark.parametrize(
    "command",
    [("sample", "--num", "4"), ("export", "--out", "OUT"), ("evaluate", "--metrics", "swd")],
)
def test_an_explicit_corrupt_checkpoint_is_one_error_line(run_copy, tmp_path, capsys, command):
    _cut(run_copy, *LATEST_BOTH)
    args = [a.replace("OUT", str(tmp_path / "exported")) for a in command]
    code = cli(args[0], run_copy, *args[1:], "--checkpoint", "3")
    assert_one_error_line(
        capsys, code, "model-3", "global_id-3", "reads completely", "Read less bytes"
    )
    assert not os.path.exists(os.path.join(run_copy, "eval"))
    assert not os.path.exists(tmp_path / "exported")


def test_sample_without_checkpoints_creates_no_folder(run_copy, capsys):
    shutil.rmtree(os.path.join(run_copy, "checkpoint"))
    os.makedirs(os.path.join(run_copy, "checkpoint"))
    assert_one_error_line(capsys, cli("sample", run_copy, "--num", "4"), "no checkpoints")
    assert not os.path.exists(os.path.join(run_copy, "eval"))


def test_sample_into_a_read_only_run_folder_is_one_error_line(run_copy, capsys, monkeypatch):
    makedirs = os.makedirs

    def read_only(path, *args, **kwargs):  # root ignores modes: a read-only mount, simulated
        if os.path.abspath(path).startswith(run_copy):
            raise OSError(errno.EROFS, "Read-only file system", path)
        return makedirs(path, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", read_only)
    line = assert_one_error_line(
        capsys,
        cli("sample", run_copy, "--num", "4"),
        os.path.join(run_copy, "eval"),
        "Read-only file system",
        "--out",
    )
    assert "cannot write there" in line


def test_overwrite_replaces_an_existing_file_and_leaves_nothing_behind(run_copy, tmp_path):
    out = tmp_path / "outputs"
    out.mkdir()
    pngs, exported = out / "pngs", out / "exported"
    pngs.write_text("a file where the PNG folder goes\n")
    exported.write_text("a file where the export goes\n")
    assert cli("sample", run_copy, "--num", "3", "--out", str(pngs), "--overwrite") == 0
    assert sorted(os.listdir(pngs)) == ["000000.png", "000001.png", "000002.png"]
    assert cli("export", run_copy, "--out", str(exported), "--overwrite") == 0
    assert (exported / "README.txt").is_file()
    # and a folder replaced by a file output
    npy = out / "x.npy"
    npy.mkdir()
    assert cli("sample", run_copy, "--num", "3", "--out", str(npy), "--overwrite") == 0
    assert np.load(npy).shape == (3, 32, 32, 3)
    assert sorted(os.listdir(out)) == ["exported", "pngs", "x.npy"]
    assert no_partial_files(str(out))


def _tree_digest(folder: str) -> dict[str, str]:
    """Every file under ``folder`` by its relative path, with the SHA-256 of its bytes."""
    out = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.mark.parametrize(
    "command,out,words",
    [
        (("export",), "RUN/checkpoint", ["lies inside the run folder"]),
        (("export",), "RUN", ["is the run folder"]),
        (("export",), "PARENT", ["holds the run folder"]),
        (("sample", "--num", "2"), "RUN", ["is the run folder"]),
        (("sample", "--num", "2"), "RUN/checkpoint", ["lies inside the run folder"]),
        (("sample", "--num", "2"), "RUN/config.npy", ["lies inside the run folder"]),
        (("sample", "--num", "2"), "PARENT", ["holds the run folder"]),
        (("sample", "--num", "2"), "LINK", ["is the run folder"]),
    ],
)
@pytest.mark.parametrize("overwrite", [True, False])
def test_out_never_replaces_a_run_or_its_checkpoints(
    run_copy, capsys, command, out, words, overwrite
):
    link = os.path.join(os.path.dirname(run_copy), "link")
    os.symlink(run_copy, link)
    before = _tree_digest(run_copy)
    paths = {"RUN": run_copy, "PARENT": os.path.dirname(run_copy), "LINK": link}
    target = paths.get(out.split("/")[0], "") + out[len(out.split("/")[0]) :]
    args = [command[0], run_copy, *command[1:], "--out", target]
    code = cli(*args, *(["--overwrite"] if overwrite else []))
    assert_one_error_line(capsys, code, f"--out {target}", *words, "outside every run folder")
    assert _tree_digest(run_copy) == before
    assert os.path.islink(link)


def test_fid_stats_out_never_replaces_a_run_s_checkpoints(run_copy, stub_graph, tmp_path, capsys):
    before = _tree_digest(run_copy)
    target = os.path.join(run_copy, "checkpoint")
    args = ["--dataset", "shapes", "--data_root", str(tmp_path), "--num", "16"]
    code = cli("fid_stats", *args, "--inception_graph", stub_graph, "--out", target, "--overwrite")
    assert_one_error_line(capsys, code, target, "lies inside the run folder")
    assert _tree_digest(run_copy) == before


def test_a_sample_refused_for_a_changed_config_is_one_line_without_warnings(run_copy):
    path = os.path.join(run_copy, "config.json")
    with open(path) as f:
        config = json.load(f)
    with open(path, "w") as f:
        json.dump(dict(config, network_width=0.5), f)
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "main.py"), "sample", run_copy, "--num", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "cannot read the generator" in lines[0] and "has shape" in lines[0], lines[0]
    assert not os.path.exists(os.path.join(run_copy, "eval"))
