"""``main.py sample``: the run's generator alone, seeded latents, three formats, bad input."""

import os

import numpy as np
import pytest
from PIL import Image

from gan.sample import latents, write_images
from tests.after_training import assert_one_error_line, cli, no_partial_files


def _read(path):
    if path.endswith(".npz"):
        with np.load(path) as d:
            return d["images"], d["z"]
    if path.endswith(".npy"):
        return np.load(path), None
    names = sorted(os.listdir(path))
    return np.stack([np.asarray(Image.open(os.path.join(path, n))) for n in names]), None


def test_sample_twice_gives_identical_files_in_every_format(trained_run, tmp_path):
    for name in ("a.npz", "a.npy", "a_png"):
        first, second = str(tmp_path / ("1" + name)), str(tmp_path / ("2" + name))
        assert cli("sample", trained_run, "--num", "10", "--seed", "3", "--out", first) == 0
        # Another batch size: the same latents (one stream), so the same images.
        assert (
            cli(
                "sample",
                trained_run,
                "--num",
                "10",
                "--seed",
                "3",
                "--out",
                second,
                "--batch_size",
                "4",
            )
            == 0
        )
        a, z = _read(first)
        b, _ = _read(second)
        assert a.shape == (10, 32, 32, 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        if z is not None:
            np.testing.assert_array_equal(z, latents(3, 10, 128))
    assert sorted(os.listdir(tmp_path / "1a_png"))[0] == "000000.png"
    assert no_partial_files(str(tmp_path))
    other = str(tmp_path / "other.npy")
    assert cli("sample", trained_run, "--num", "10", "--seed", "4", "--out", other) == 0
    assert not np.array_equal(np.load(other), _read(str(tmp_path / "1a.npy"))[0])


def test_sample_of_a_kept_checkpoint_differs_from_the_latest(own_trained_run, tmp_path):
    trained_run = own_trained_run
    assert (
        cli(
            "sample",
            trained_run,
            "--num",
            "4",
            "--checkpoint",
            "1",
            "--out",
            str(tmp_path / "k.npy"),
        )
        == 0
    )
    assert cli("sample", trained_run, "--num", "4", "--out", str(tmp_path / "l.npy")) == 0
    assert not np.array_equal(np.load(tmp_path / "k.npy"), np.load(tmp_path / "l.npy"))
    # Without --out: eval/samples.npz in the run folder.
    assert cli("sample", trained_run, "--num", "4") == 0
    with np.load(os.path.join(trained_run, "eval", "samples.npz")) as d:
        np.testing.assert_array_equal(d["images"], np.load(tmp_path / "l.npy"))


@pytest.mark.parametrize("kind", ["x.npz", "x.npy", "x_png"])
def test_a_failed_write_leaves_nothing_behind(tmp_path, kind):
    def batches():
        yield np.zeros((2, 4, 4, 3), np.uint8)
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        write_images(str(tmp_path / kind), batches(), 4, (4, 4, 3), latent_dim=2, progress=False)
    assert os.listdir(tmp_path) == []


def test_npz_is_written_in_pieces_and_reads_back(tmp_path):
    parts = [np.full((3, 2, 2, 3), i, np.uint8) for i in range(4)]
    z = [np.full((3, 5), i, np.float32) for i in range(4)]
    path = write_images(
        str(tmp_path / "s.npz"),
        iter(parts),
        12,
        (2, 2, 3),
        z_batches=lambda: iter(z),
        latent_dim=5,
        progress=False,
    )
    with np.load(path) as d:
        np.testing.assert_array_equal(d["images"], np.concatenate(parts))
        np.testing.assert_array_equal(d["z"], np.concatenate(z))


def test_bad_sample_input_is_one_error_line(trained_run, tmp_path, capsys):
    out = str(tmp_path / "s.npy")
    not_run = tmp_path / "not_a_run"
    not_run.mkdir()
    assert_one_error_line(
        capsys, cli("sample", str(not_run), "--out", out), str(not_run), "not a run folder"
    )
    empty = tmp_path / "empty_run"
    empty.mkdir()
    (empty / "config.json").write_text(open(os.path.join(trained_run, "config.json")).read())
    assert_one_error_line(capsys, cli("sample", str(empty), "--out", out), "no checkpoints")
    assert_one_error_line(
        capsys,
        cli("sample", trained_run, "--checkpoint", "2", "--out", out),
        "no checkpoint 2",
        "1, 3",
    )
    assert_one_error_line(
        capsys, cli("sample", trained_run, "--checkpoint", "all", "--out", out), "one checkpoint"
    )
    for num in ("0", "-5"):
        assert_one_error_line(
            capsys, cli("sample", trained_run, "--num", num, "--out", out), f"--num {num}"
        )
    assert_one_error_line(
        capsys, cli("sample", trained_run, "--out", str(tmp_path / "x.jpg")), "x.jpg"
    )
    assert_one_error_line(
        capsys,
        cli("sample", trained_run, "--metrics", "fid", "--out", out),
        "--metrics",
        "not used by sample",
    )
    assert os.listdir(tmp_path) == ["not_a_run", "empty_run"] or sorted(os.listdir(tmp_path)) == [
        "empty_run",
        "not_a_run",
    ]
    open(out, "wb").write(b"keep me")
    assert_one_error_line(
        capsys, cli("sample", trained_run, "--num", "2", "--out", out), out, "--overwrite"
    )
    assert open(out, "rb").read() == b"keep me"
    assert cli("sample", trained_run, "--num", "2", "--out", out, "--overwrite") == 0
    assert np.load(out).shape == (2, 32, 32, 3)
    assert no_partial_files(str(tmp_path))


def test_the_command_line_prints_one_error_line_and_exits_2(tmp_path):
    import subprocess
    import sys

    from tests.after_training import REPO

    done = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "main.py"),
            "sample",
            str(tmp_path),
            "--out",
            str(tmp_path / "s.npz"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "not a run folder" in lines[0], done.stderr
    assert "Traceback" not in done.stderr and os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["s.npy", "s.npz", "s_png"])
def test_sample_memory_does_not_grow_with_num(trained_run, tmp_path, name):
    """``sample`` streams: the Python-side peak (tracemalloc: NumPy buffers, bytes, lists) of
    sampling 4N images exceeds that of N images by far less than the 3N extra images."""
    import tracemalloc

    from gan.sample import sample_run

    n, batch = 64, 16
    image_bytes = 32 * 32 * 3
    sample_run(
        trained_run, str(tmp_path / f"warm-{name}"), num=batch, batch_size=batch, progress=False
    )  # imports, caches: not part of either figure
    peaks = []
    for num in (n, 4 * n):
        tracemalloc.start()
        try:
            sample_run(
                trained_run,
                str(tmp_path / f"{num}-{name}"),
                num=num,
                batch_size=batch,
                progress=False,
            )
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] - peaks[0] < 3 * n * image_bytes / 4, peaks
