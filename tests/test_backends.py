"""The library core (``gan.bsn``) on every Keras backend: drop-in layer arguments, files of the
previous release, what ``import gan.bsn`` loads, and the ``portable`` tests run under jax and
torch (each backend in its own process: Keras picks its backend once per process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from gan import bsn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "tests", "data")
OTHER_BACKENDS = ("jax", "torch")
# What ``import gan.bsn`` may load of the package: the core, the package's empty ``__init__`` and
# the two import-free leaves the core and the runner share (the user errors; SN_MODES, GAMMAS).
CORE_MODULES = ("gan", "gan.errors", "gan.modes")


def run_python(code: str, backend: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -c code`` from the repository root with ``KERAS_BACKEND=backend``."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.portable
@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((8, 3), {}),
        ((8, (3, 2)), {"strides": (2, 1)}),
        ((8, 3), {"padding": "same", "strides": 2}),
        ((8, 3), {"dilation_rate": 2, "use_bias": False, "activation": "relu"}),
    ],
)
def test_sn_conv2d_gives_conv2d_output_shape(args, kwargs):
    x = np.ones((2, 11, 9, 3), "float32")
    ours = bsn.SNConv2D(*args, **kwargs)
    theirs = keras.layers.Conv2D(*args, **kwargs)
    assert tuple(ours(x).shape) == tuple(theirs(x).shape)
    assert ours.compute_output_shape(x.shape) == theirs.compute_output_shape(x.shape)
    assert (ours.bias is None) == (not kwargs.get("use_bias", True))
    if kwargs.get("activation") == "relu":
        assert float(keras.ops.min(ours(x))) >= 0.0


@pytest.mark.portable
def test_sn_dense_takes_dense_arguments_with_keras_defaults():
    x = np.ones((3, 5), "float32")
    dense = bsn.SNDense(4, activation="relu", use_bias=False, kernel_regularizer="l2")
    assert tuple(dense(x).shape) == tuple(keras.layers.Dense(4)(x).shape)
    assert dense.bias is None and len(dense.losses) == 1
    assert float(keras.ops.min(dense(x))) >= 0.0
    default = bsn.SNDense(4)
    assert isinstance(default.kernel_initializer, keras.initializers.GlorotUniform)
    again = bsn.SNDense.from_config(dense.get_config())
    assert again.get_config() == dense.get_config()


@pytest.mark.portable
def test_a_file_of_the_previous_release_loads_with_identical_outputs():
    """``legacy_layers.keras`` was saved by the layers before they took Conv2D's arguments
    (no ``padding`` in the config: SAME) with their outputs on a fixed input."""
    model = keras.models.load_model(os.path.join(DATA, "legacy_layers.keras"))
    assert model.get_layer("conv").padding == "same"
    x = np.load(os.path.join(DATA, "legacy_layers_input.npy"))
    expected = np.load(os.path.join(DATA, "legacy_layers_output.npy"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, rtol=1e-5)


CLOSURE = textwrap.dedent("""
    import sys
    import gan.bsn
    ours = [m for m in sys.modules if m == "gan" or m.startswith("gan.")]
    core = {core!r} + ("gan.bsn",)
    runner = [m for m in ours if m not in core and not m.startswith("gan.bsn.")]
    assert not runner, runner
    assert {backend!r} == "tensorflow" or "tensorflow" not in sys.modules
    print("ok")
""")


@pytest.mark.parametrize("backend", ("tensorflow",) + OTHER_BACKENDS)
def test_importing_the_core_loads_no_runner_module(backend):
    out = run_python(CLOSURE.format(core=CORE_MODULES, backend=backend), backend)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


def portable_test_files() -> list[str]:
    """The test files holding tests marked ``portable``."""
    found = []
    for folder, _, names in os.walk(os.path.join(REPO, "tests")):
        for name in sorted(names):
            path = os.path.join(folder, name)
            if name.startswith("test_") and name.endswith(".py"):
                with open(path, encoding="utf-8") as f:
                    if "pytest.mark.portable" in f.read():
                        found.append(os.path.relpath(path, REPO))
    return sorted(found)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_the_portable_tests_pass_on_backend(backend):
    """The tests that use only keras, keras.ops and gan.bsn, run with ``KERAS_BACKEND`` jax and
    torch (this process runs them on tensorflow)."""
    files = portable_test_files()
    assert "tests/test_backends.py" in files
    cmd = [sys.executable, "-m", "pytest", "-m", "portable", "-p", "no:xdist", "-o", "addopts="]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(
        cmd + ["-q", *files], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout


def test_fit_ends_alike_on_the_three_backends(tmp_path):
    """Three WGAN-GP iterations (n_dis 2, diagnostics) of tests/backend_fit.py per backend: the
    same variables, optimizer slots and logs to float32 rounding (the draws of z and alpha are
    the same numbers on every backend)."""
    found = {}
    for backend in ("tensorflow",) + OTHER_BACKENDS:
        path = str(tmp_path / f"{backend}.npz")
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        script = os.path.join(REPO, "tests", "backend_fit.py")
        out = subprocess.run(
            [sys.executable, script, path, "wgan_gp"],
            cwd=REPO,
            env=dict(env, PYTHONPATH=REPO),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        found[backend] = dict(np.load(path))
    reference = found["tensorflow"]
    assert any(k.startswith("log:d/sigma") for k in reference)
    for backend in OTHER_BACKENDS:
        assert set(found[backend]) == set(reference), backend
        for key, want in reference.items():
            scale = float(np.abs(want).max()) + 1e-3
            np.testing.assert_allclose(
                found[backend][key], want, rtol=0, atol=1e-5 * scale, err_msg=f"{backend} {key}"
            )


@pytest.mark.portable
def test_callbacks_and_backup_and_restore_resume_on_this_backend(tmp_path):
    """An interrupted fit resumed by BackupAndRestore ends with the uninterrupted fit's
    variables; SampleGrid and SpectralNormLogger write on the backend this process runs."""
    from tests.backend_fit import tiny_gan

    images = np.random.default_rng(1).uniform(-1, 1, (16, 8, 8, 3)).astype("float32")

    def fit(gan: bsn.BSNGAN, epochs: int, *callbacks) -> None:
        gan.fit(
            images, batch_size=8, epochs=epochs, shuffle=False, verbose=0, callbacks=list(callbacks)
        )

    whole = tiny_gan("hinge")
    fit(
        whole,
        2,
        bsn.SampleGrid(str(tmp_path / "samples"), every_n_steps=2, rows=2, cols=2),
        bsn.SpectralNormLogger(str(tmp_path / "logs")),
    )
    assert sorted(os.listdir(tmp_path / "samples")) == ["global_id-1.png", "global_id-3.png"]
    assert os.listdir(tmp_path / "logs")

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    backup = str(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_gan("hinge"), 2, keras.callbacks.BackupAndRestore(backup), Interrupt())
    resumed = tiny_gan("hinge")
    fit(resumed, 2, keras.callbacks.BackupAndRestore(backup))
    assert int(keras.ops.convert_to_numpy(resumed.g_optimizer.iterations)) == 4
    for a, b in zip(whole.variables, resumed.variables, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-6, atol=1e-7
        )


def _tiny_networks(d_extra: list | None = None, g_extra: list | None = None) -> tuple:
    generator = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8 * 8 * 3)]
        + (g_extra or [])
        + [keras.layers.Reshape((8, 8, 3))]
    )
    discriminator = keras.Sequential(
        [keras.Input((8, 8, 3)), bsn.SNConv2D(2, 3, strides=2, sn_mode="BSN")]
        + (d_extra or [])
        + [keras.layers.Flatten(), bsn.SNDense(1)]
    )
    return generator, discriminator


@pytest.mark.portable
def test_keras_style_compile_and_unbatched_data_are_clear_errors():
    from gan.errors import ConfigError, DataError

    gan = bsn.BSNGAN(*_tiny_networks())
    with pytest.raises(ConfigError, match="pass the two optimizers as d_optimizer=.*not Keras'"):
        gan.compile(optimizer="adam", loss="mse")
    with pytest.raises(ConfigError, match="loss = 'mse', expected one of 'hinge', 'wgan_gp'"):
        gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam(), loss="mse")
    gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam())

    def single_images():
        while True:
            yield (np.zeros((8, 8, 3), "float32"),)

    with pytest.raises(DataError, match="not batches; batch the dataset"):
        gan.fit(single_images(), steps_per_epoch=1, verbose=0)


@pytest.mark.portable
@pytest.mark.parametrize(
    "d_extra, g_extra, words",
    [
        (
            [keras.layers.SpectralNormalization(keras.layers.Conv2D(2, 1))],
            None,
            "mixes gan.bsn layers with keras.layers.SpectralNormalization",
        ),
        ([keras.layers.Dense(2)], None, "has a plain Dense or Conv2D beside"),
        (None, [keras.layers.BatchNormalization()], "uses keras.layers.BatchNormalization"),
    ],
)
def test_a_layer_unlike_the_papers_gives_one_warning(d_extra, g_extra, words):
    with pytest.warns(UserWarning, match=words) as caught:
        bsn.BSNGAN(*_tiny_networks(d_extra, g_extra))
    assert len([w for w in caught if "BSNGAN" in str(w.message)]) == 1


@pytest.mark.portable
def test_images_outside_minus_one_one_give_a_warning():
    gan = bsn.BSNGAN(*_tiny_networks())
    gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam())
    pixels = np.full((4, 8, 8, 3), 255.0, "float32")
    with pytest.warns(UserWarning, match=r"range over \[255, 255\], not \[-1, 1\]"):
        gan.fit(pixels, batch_size=4, verbose=0)


@pytest.mark.portable
def test_a_truncated_keras_file_is_named_damaged(tmp_path):
    from gan.errors import DataError

    with open(os.path.join(DATA, "legacy_layers.keras"), "rb") as f:
        whole = f.read()
    cut = tmp_path / "model.keras"
    cut.write_bytes(whole[: len(whole) // 2])
    for load in (keras.models.load_model, keras.saving.load_model):
        with pytest.raises(DataError, match="model.keras: the .keras file is damaged"):
            load(str(cut))
