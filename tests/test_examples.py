"""The examples in examples/ run at a tiny size on a folder of tiny PNGs."""

import importlib.util
import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--image_size", "16", "--batch_size", "4", "--steps", "3", "--latent_dim", "8"]


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(REPO, "examples", f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def image_folder(tmp_path):
    """Eight 20x20 PNGs in a class subfolder, as a user's folder of images."""
    folder = tmp_path / "images"
    (folder / "faces").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(8):
        pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "faces" / f"{i}.png")
    return str(folder)


def test_dcgan_example_fits_on_a_folder_of_images(tmp_path, image_folder):
    out = tmp_path / "out"
    gan = load_example("dcgan_fit").main(
        [
            "--images",
            image_folder,
            "--out",
            str(out),
            "--sample_every",
            "2",
            "--steps_per_epoch",
            "2",
        ]
        + TINY
    )
    assert int(gan.g_optimizer.iterations.numpy()) == 4  # 3 steps: two epochs of 2
    assert sorted(os.listdir(out / "samples")) == ["global_id-1.png", "global_id-3.png"]
    assert os.listdir(out / "logs") and (out / "gan.keras").is_file()
    assert not (out / "backup").exists()  # BackupAndRestore removes it after a finished fit


def test_dcgan_example_resumes_an_interrupted_fit_from_its_backup(
    tmp_path, image_folder, monkeypatch
):
    """Interrupted at the start of its second epoch, the example run again trains only the
    epoch left: its BackupAndRestore saved the first one."""
    example = load_example("dcgan_fit")
    epochs_begun = []

    def on_epoch_begin(self, epoch, logs=None):
        epochs_begun.append(epoch)
        if epochs_begun == [0, 1]:
            raise KeyboardInterrupt("stopped at the start of epoch 1")

    monkeypatch.setattr(example.bsn.SampleGrid, "on_epoch_begin", on_epoch_begin, raising=False)
    args = ["--images", image_folder, "--out", str(tmp_path / "out"), "--steps_per_epoch", "2"]
    args += ["--sample_every", "100"] + TINY[:-4] + ["--steps", "4", "--latent_dim", "8"]
    with pytest.raises(KeyboardInterrupt):
        example.main(args)
    gan = example.main(args)
    assert epochs_begun == [0, 1, 1]  # the resumed fit starts at epoch 1
    assert int(gan.g_optimizer.iterations.numpy()) == 4


def test_replace_keras_sn_example_swaps_layers_and_keeps_weights(image_folder):
    example = load_example("replace_keras_sn")
    old = example.existing_discriminator(16)
    new = example.replace_spectral_normalization(old, sn_mode="BSN", scale=1.2)
    from gan import bsn

    replaced = bsn.normalized_layers(new)
    assert [type(layer).__name__ for layer in replaced] == ["SNConv2D", "SNConv2D", "SNDense"]
    assert [layer.bsn for layer in replaced] == [True, True, False]  # dense BSN is plain SN
    wrapped = [
        layer.layer for layer in old.layers if isinstance(layer, keras.layers.SpectralNormalization)
    ]
    for mine, theirs in zip(replaced, wrapped, strict=True):
        np.testing.assert_array_equal(mine.kernel.numpy(), theirs.kernel.numpy())
        assert mine.scale == 1.2
    gan = example.main(["--images", image_folder] + TINY)
    assert int(gan.g_optimizer.iterations.numpy()) == 3


def test_custom_loop_example_trains(image_folder):
    losses = load_example("custom_loop").main(["--images", image_folder, "--n_dis", "2"] + TINY)
    assert all(math.isfinite(v) for v in losses.values())


ON_BACKEND = textwrap.dedent("""
    import importlib.util, math, os, sys
    import keras

    def load(name):
        path = os.path.join("examples", name + ".py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    images, out, tiny = sys.argv[1], sys.argv[2], sys.argv[3:]
    gan = load("dcgan_fit").main(
        ["--images", images, "--out", out, "--sample_every", "2", "--steps_per_epoch", "2"] + tiny
    )
    assert int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations)) == 4
    samples = sorted(os.listdir(os.path.join(out, "samples")))
    assert samples == ["global_id-1.png", "global_id-3.png"], samples
    gan = load("replace_keras_sn").main(["--images", images] + tiny)
    assert int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations)) == 3
    losses = load("custom_loop").main(["--images", images, "--n_dis", "2"] + tiny)
    assert all(math.isfinite(v) for v in losses.values()), losses
    assert keras.backend.backend() == os.environ["KERAS_BACKEND"]
    print("ok")
""")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_examples_run_on_backend(backend, tmp_path, image_folder):
    """dcgan_fit, replace_keras_sn and custom_loop (its ``minimize`` written for this backend)
    on the other Keras backends, each in its own process."""
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(
        [sys.executable, "-c", ON_BACKEND, image_folder, str(tmp_path / "out"), *TINY],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout[-2000:] + out.stderr[-3000:]
