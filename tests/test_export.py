"""``main.py export``: a SavedModel that loads with TensorFlow alone and equals ``sample``."""

import os
import subprocess
import sys
import textwrap

import numpy as np

from tests.after_training import REPO, assert_one_error_line, cli, no_partial_files

LOAD = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    repo = sys.argv[3]
    # The repository root is not on the path (a virtual environment inside the clone may be).
    assert not any(os.path.realpath(p or os.getcwd()) == repo for p in sys.path), sys.path
    try:
        import gan  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the project is importable")
    model = tf.saved_model.load(sys.argv[1])
    z = np.load(sys.argv[2])["z"]
    images = model.signatures["serving_default"](z=tf.constant(z))["images"].numpy()
    np.save(sys.argv[2] + ".exported.npy", images)
""")


def test_export_loads_without_the_project_and_equals_sample(trained_run, tmp_path):
    out = str(tmp_path / "exported")
    assert cli("export", trained_run, "--out", out) == 0
    assert sorted(os.listdir(out)) == ["README.txt", "generator.keras", "saved_model"]
    readme = open(os.path.join(out, "README.txt")).read()
    assert "latent size: 128" in readme and "32 x 32 x 3" in readme and "model-3" in readme
    samples = str(tmp_path / "s.npz")
    assert cli("sample", trained_run, "--num", "6", "--seed", "8", "--out", samples) == 0
    scratch = tmp_path / "elsewhere"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os\n" + LOAD,
            os.path.join(out, "saved_model"),
            samples,
            os.path.realpath(REPO),
        ],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(samples) as d:
        expected = d["images"]
    np.testing.assert_array_equal(np.load(samples + ".exported.npy"), expected)

    # The .keras file, with the project importable, gives the same images.
    import keras

    import gan.networks.cnn  # noqa: F401  (registers the generator class)
    from gan.sample import to_uint8_tf

    with np.load(samples) as d:
        z = d["z"]
    model = keras.saving.load_model(os.path.join(out, "generator.keras"))
    np.testing.assert_array_equal(to_uint8_tf(model(z, training=False)).numpy(), expected)


def test_bad_export_input_is_one_error_line(trained_run, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    assert_one_error_line(
        capsys, cli("export", trained_run, "--out", str(out)), str(out), "--overwrite"
    )
    assert os.listdir(out) == []
    assert_one_error_line(capsys, cli("export", trained_run), "--out")
    assert_one_error_line(
        capsys, cli("export", str(tmp_path), "--out", str(tmp_path / "e")), "not a run folder"
    )
    assert_one_error_line(
        capsys,
        cli("export", trained_run, "--checkpoint", "kept", "--out", str(tmp_path / "e")),
        "one checkpoint",
    )
    assert no_partial_files(str(tmp_path))
