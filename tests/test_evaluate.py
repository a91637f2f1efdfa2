"""``main.py evaluate``: training's metric callbacks on checkpoints, eval/metrics.csv, bad input."""

import csv
import os
import textwrap

import numpy as np
import pytest

from gan.eval_csv import EvalCsv
from tests.after_training import assert_one_error_line, cli, no_partial_files
from tests.helpers import TINY_RUN_CONFIG, run_config


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_evaluate_of_the_latest_checkpoint_reproduces_trainings_last_metrics_row(
    own_trained_run, capsys
):
    trained_run = own_trained_run
    assert cli("evaluate", trained_run) == 0
    trained = _rows(os.path.join(trained_run, "metrics.csv"))[-1]
    evaluated = [
        r
        for r in _rows(os.path.join(trained_run, "eval", "metrics.csv"))
        if r["sample_seed"] == str(TINY_RUN_CONFIG["seed"])
    ]
    assert len(evaluated) == 1
    row = evaluated[0]
    assert row["global_id"] == trained["global_id"] == "3" and row["checkpoint"] == "model-3"
    for column in ("inception_score_mean", "inception_score_std", "fid", "swd"):
        np.testing.assert_allclose(
            float(row[column]), float(trained[column]), rtol=1e-6, atol=1e-9, err_msg=column
        )
    assert row["fid_num_samples"] == "32" and row["fid_reference"] == ""
    # Already there with these settings: skipped, the file unchanged.
    before = open(os.path.join(trained_run, "eval", "metrics.csv")).read()
    capsys.readouterr()
    assert cli("evaluate", trained_run) == 0
    assert "already evaluated" in capsys.readouterr().out
    assert open(os.path.join(trained_run, "eval", "metrics.csv")).read() == before
    # Training's own metrics.csv is never touched.
    assert _rows(os.path.join(trained_run, "metrics.csv"))[-1] == trained


def test_evaluate_all_checkpoints_other_settings_add_rows(own_trained_run):
    trained_run = own_trained_run
    assert (
        cli("evaluate", trained_run, "--checkpoint", "all", "--metrics", "swd", "--seed", "11") == 0
    )
    rows = [
        r
        for r in _rows(os.path.join(trained_run, "eval", "metrics.csv"))
        if r["sample_seed"] == "11"
    ]
    assert [r["global_id"] for r in rows] == ["1", "3"]
    assert all(r["swd"] and not r.get("fid") for r in rows)  # no fid column in a fresh table
    assert rows[0]["swd"] != rows[1]["swd"]
    # A new metric at the same settings fills the same row.
    assert (
        cli(
            "evaluate",
            trained_run,
            "--checkpoint",
            "1",
            "--metrics",
            "inception_score",
            "--seed",
            "11",
        )
        == 0
    )
    rows = [
        r
        for r in _rows(os.path.join(trained_run, "eval", "metrics.csv"))
        if r["sample_seed"] == "11"
    ]
    assert len(rows) == 2 and rows[0]["inception_score_mean"] and rows[0]["swd"]
    assert no_partial_files(os.path.join(trained_run, "eval"))


def test_evaluate_a_task_evaluates_its_run_folders(own_trained_run, tmp_path, capsys):
    trained_run = own_trained_run
    task = tmp_path / "tiny_task"
    task.mkdir()
    cfg = dict(TINY_RUN_CONFIG, inception_graph=None)
    (task / "config.py").write_text(
        textwrap.dedent(f"""
        config = {{"scheduler_config": {{"gpu": ["0"]}}, "global_config": {cfg!r},
                   "test_config": [{{"run": [0, 1, 2]}}]}}
    """)
    )
    results = tmp_path / "results"
    results.mkdir()
    os.symlink(trained_run, results / "run-0,")
    assert (
        cli(
            "evaluate",
            str(task),
            "--results_dir",
            str(results),
            "--shard",
            "0/2",
            "--metrics",
            "swd",
            "--seed",
            "12",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "run-2,: no checkpoint yet, skipped" in out and "run-1," not in out
    assert "evaluated 1 of 2 runs" in out
    assert [
        r["global_id"]
        for r in _rows(os.path.join(trained_run, "eval", "metrics.csv"))
        if r["sample_seed"] == "12"
    ] == ["3"]


def test_evaluate_an_image_file_against_the_dataset(trained_run, tmp_path, capsys):
    """The SWD of an image file against the dataset is that of the file's images: the
    dataset's own images score far closer than a 4-iteration generator's, and a file
    evaluated twice scores the same."""
    from gan.shapes import shapes_images

    generated = str(tmp_path / "s.npz")
    assert cli("sample", trained_run, "--num", "40", "--out", generated) == 0
    real = str(tmp_path / "real.npy")
    np.save(real, shapes_images()[-40:])

    def swd(path):
        capsys.readouterr()
        assert (
            cli(
                "evaluate",
                "--images",
                path,
                "--dataset",
                "shapes",
                "--metrics",
                "swd",
                "--swd_num_samples",
                "32",
            )
            == 0
        )
        return float(capsys.readouterr().out.split("swd:")[1].split()[0])

    far, close = swd(generated), swd(real)
    assert np.isfinite(far) and np.isfinite(close) and close > 0
    assert close * 3 < far, (close, far)
    assert swd(generated) == far


def test_eval_table_keeps_rows_by_global_id_and_settings(tmp_path):
    path = str(tmp_path / "eval" / "metrics.csv")
    settings = {
        k: "1"
        for k in (
            "sample_seed",
            "metric_batch_size",
            "is_num_samples",
            "is_num_splits",
            "fid_num_samples",
            "fid_num_real",
            "fid_reference",
            "swd_num_samples",
            "swd_patches_per_image",
        )
    }
    table = EvalCsv(path)
    table.put(5, "model-5", settings, {"swd": 0.5})
    table.put(5, "model-5", dict(settings, sample_seed="2"), {"fid": 3.0})
    table.put(2, "global_id-2", settings, {"fid": 1.0})
    again = EvalCsv(path)
    assert [r["global_id"] for r in again.rows] == ["2", "5", "5"]
    assert again.done(5, settings, ["swd"]) and not again.done(5, settings, ["fid"])
    assert _rows(path)[0].keys() >= {"global_id", "checkpoint", "fid", "swd", "sample_seed"}


@pytest.mark.parametrize(
    "images, words",
    [
        (np.zeros((4, 32, 32), np.uint8), ["shape (4, 32, 32)"]),
        (np.zeros((4, 16, 16, 3), np.uint8), ["16x16", "32x32"]),
        (np.zeros((4, 32, 32, 3), np.int32), ["dtype int32"]),
        (np.full((4, 32, 32, 3), 2.0, np.float32), ["[2.0, 2.0]", "[-1, 1]"]),
    ],
)
def test_a_bad_image_file_is_one_error_line(tmp_path, capsys, images, words):
    path = str(tmp_path / "bad.npy")
    np.save(path, images)
    assert_one_error_line(
        capsys, cli("evaluate", "--images", path, "--dataset", "shapes"), path, *words
    )


def test_bad_evaluate_input_is_one_error_line(own_trained_run, tmp_path, capsys, monkeypatch):
    trained_run = own_trained_run
    assert_one_error_line(
        capsys,
        cli("evaluate", trained_run, "--metrics", "fid,sharpness"),
        "sharpness",
        "known metrics",
    )
    not_run = tmp_path / "plain"
    not_run.mkdir()
    assert_one_error_line(capsys, cli("evaluate", str(not_run)), "not a run folder")
    assert_one_error_line(
        capsys, cli("evaluate", trained_run, "--checkpoint", "7"), "no checkpoint 7", "1, 3"
    )
    assert_one_error_line(
        capsys, cli("evaluate", trained_run, "--fid_num_samples", "0"), "--fid_num_samples 0"
    )
    missing = str(tmp_path / "nowhere" / "inception.pb")
    line = assert_one_error_line(
        capsys, cli("evaluate", trained_run, "--inception_graph", missing, "--seed", "13"), missing
    )
    assert "put it at" in line
    table = os.path.join(trained_run, "eval", "metrics.csv")
    assert not os.path.exists(table) or not any(r["sample_seed"] == "13" for r in _rows(table))


def test_kept_state_goes_to_the_metric_of_the_same_name_and_only_at_its_size(tmp_path):
    from gan.evaluate import load_metric_state

    class Recorder:
        def __init__(self, runner=False):
            self.got = {}
            if runner:
                self.runner = None

        def load_state_arrays(self, arrays):
            self.got = arrays

    path = str(tmp_path / "metric_state.npz")
    np.savez(
        path,
        **{
            "1/fid_real_indices": np.arange(4),
            "2/swd_seed": np.array([7]),
            "2/swd_real_indices": np.arange(3),
        },
    )
    kid, swd = Recorder(runner=True), Recorder()
    load_metric_state(
        [kid, swd],
        ["kid", "swd"],
        ["inception_score", "fid", "swd"],
        path,
        run_config(fid_num_real=4, swd_num_samples=3),
    )
    np.testing.assert_array_equal(kid.got["fid_real_indices"], np.arange(4))
    assert sorted(swd.got) == ["swd_real_indices", "swd_seed"]
    kid, swd = Recorder(runner=True), Recorder()
    load_metric_state(
        [kid, swd],
        ["kid", "swd"],
        ["inception_score", "fid", "swd"],
        path,
        run_config(fid_num_real=5, swd_num_samples=6),
    )
    assert kid.got == {} and sorted(swd.got) == ["swd_seed"]


def test_counts_the_data_cannot_meet_are_one_error_line(own_trained_run, capsys):
    trained_run = own_trained_run
    assert_one_error_line(
        capsys,
        cli("evaluate", trained_run, "--is_num_samples", "4", "--is_num_splits", "5"),
        "is_num_splits = 5",
    )
    assert_one_error_line(
        capsys,
        cli("evaluate", trained_run, "--metrics", "fid", "--fid_num_real", "20000"),
        "fid_num_real = 20000",
        "10000 training images",
    )
