"""The library API (gan.bsn): fit() runs the trainer's iteration, layers save and load, the
callbacks and resume, and one clear error for each misuse."""

import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan import bsn
from gan.config import ConfigError
from gan.dataset_files import DataError, to_unit_range
from gan.errors import UserError
from gan.networks.specs import build_networks
from gan.trainer import ADAM_EPSILON, Trainer
from tests.helpers import run_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)


def tiny_generator(latent_dim: int = 8) -> keras.Model:
    """z -> 4x4x8 -> BN, ReLU -> transposed conv to 8x8x3, tanh."""
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            keras.layers.Dense(4 * 4 * 8),
            keras.layers.Reshape((4, 4, 8)),
            bsn.BatchNorm(),
            keras.layers.ReLU(),
            keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh"),
        ]
    )


def tiny_discriminator(sn_mode: str = "BSN", **dense) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            bsn.SNConv2D(8, 3, strides=2, padding="same", sn_mode=sn_mode, scale=1.2),
            keras.layers.LeakyReLU(0.1),
            keras.layers.Flatten(),
            bsn.SNDense(1, sn_mode=sn_mode, **dense),
        ]
    )


def adam() -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(1e-3, beta_1=0.5, epsilon=ADAM_EPSILON)


def real_images(n: int = 16, size: int = 8) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (n, size, size, 3)).astype(np.float32)


@pytest.mark.parametrize(
    "over",
    [
        dict(sn_mode="BSN", n_dis=2),
        dict(sn_mode="SN", n_dis=1, loss="wgan_gp", d_gp_coe=10.0),
    ],
)
def test_fit_ends_with_the_task_trainers_variables(tmp_path, over, deterministic_ops):
    """fit() on the paper's CNN G/D and the task trainer's CNN schedule, from the same weights,
    batches and latents, end three iterations with the same variables and losses."""
    cfg = run_config(batch_size=4, network_width=0.125, metrics=[], **over)
    trainer = Trainer(cfg, str(tmp_path / "run"), IMAGES, seed=5)
    generator, discriminator = build_networks(cfg, trainer.image_shape)
    for mine, theirs in zip(
        generator.weights + discriminator.weights,
        trainer.generator.weights + trainer.discriminator.weights,
        strict=True,
    ):
        mine.assign(theirs)
    model = bsn.BSNGAN(generator, discriminator)
    model.compile(
        d_optimizer=keras.optimizers.Adam(
            cfg.d_lr, beta_1=cfg.d_beta1, beta_2=cfg.d_beta2, epsilon=ADAM_EPSILON
        ),
        g_optimizer=keras.optimizers.Adam(
            cfg.g_lr, beta_1=cfg.g_beta1, beta_2=cfg.g_beta2, epsilon=ADAM_EPSILON
        ),
        loss=cfg.loss,
        n_dis=cfg.n_dis,
        gp_weight=cfg.d_gp_coe or 0.0,
        diagnostics=True,
    )

    # The trainer draws, per D step, batch indices then z (then WGAN-GP's alpha) from one
    # generator; fit gets the same images as data and the same z and alpha from a copy of it.
    iterations, b, n = 3, cfg.batch_size, len(IMAGES)
    replay = tf.random.Generator.from_state(trainer.rng.state.numpy(), trainer.rng.algorithm)
    batches = []
    for _ in range(iterations * cfg.n_dis):
        batches.append(
            to_unit_range(trainer.images.gather(replay.uniform([b], 0, n, dtype=tf.int64))).numpy()
        )
        replay.normal([b, cfg.latent_dim])
        if cfg.loss == "wgan_gp":
            replay.uniform([b, 1, 1, 1])
    draws = tf.random.Generator.from_state(trainer.rng.state.numpy(), trainer.rng.algorithm)

    def sample_z(count):
        draws.uniform([b], 0, n, dtype=tf.int64)
        return draws.normal([count, cfg.latent_dim])

    model.sample_z, model.uniform = sample_z, draws.uniform
    data = tf.data.Dataset.from_tensor_slices(
        np.stack(batches).reshape(iterations, cfg.n_dis * b, 32, 32, 3)
    )
    logs = model.fit(data, epochs=1, verbose=0).history
    for _ in range(iterations):
        stats = trainer.train_iteration(with_summary=True)

    assert set(logs) == set(stats)
    for k in stats:
        np.testing.assert_allclose(logs[k][-1], float(stats[k]), rtol=1e-5, atol=1e-6, err_msg=k)
    pairs = [
        (model.generator, trainer.generator),
        (model.discriminator, trainer.discriminator),
        (model.g_optimizer, trainer.g_opt),
        (model.d_optimizer, trainer.d_opt),
    ]
    for mine, theirs in pairs:
        for x, y in zip(mine.variables, theirs.variables, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-5, atol=1e-6, err_msg=y.path)


def test_update_u_moves_every_u_and_nothing_else():
    d = tiny_discriminator()
    us = {id(v) for v in d.weights if v.name.startswith("u")}
    assert len(us) == 3  # BSN conv: u and u_t; the dense in BSN mode: plain SN, one u
    before = [v.numpy() for v in d.weights]
    d(real_images(2))  # a forward never moves u
    bsn.update_u(d)
    for v, b in zip(d.weights, before, strict=True):
        assert np.array_equal(v.numpy(), b) == (id(v) not in us), v.path


def test_layers_round_trip_their_config():
    conv = bsn.SNConv2D(
        4, 3, strides=2, padding="same", sn_mode="BSN", scale=1.4, learnable_gamma=True, name="c"
    )
    dense = bsn.SNDense(2, sn_mode="BSN", name="d")
    for layer in (conv, dense, bsn.BatchNorm(momentum=0.8, name="bn")):
        again = type(layer).from_config(layer.get_config())
        assert again.get_config() == layer.get_config()
        assert keras.saving.get_registered_name(type(layer)).startswith("bsn>")
    dense.build((None, 5))
    assert dense.bsn is False and dense.u_t is None and len(dense.sigmas()) == 1
    conv.build((None, 8, 8, 3))
    assert float(conv.gamma.numpy()) == 1.0 and conv.gamma.trainable


SAVED_CHECK = """
import sys
import keras
import numpy as np
import gan.bsn  # registers the layers and the model
model = keras.models.load_model(sys.argv[1])
z = np.load(sys.argv[2])
np.save(sys.argv[3], np.asarray(model(z)))
np.save(sys.argv[4], np.asarray(model.discriminator(model(z))))
"""


def test_saved_model_loads_in_a_fresh_process_with_identical_outputs(tmp_path):
    """A trained BSNGAN saved to .keras gives the same G and D outputs when loaded by a new
    Python process whose working directory is not the clone."""
    model = bsn.BSNGAN(tiny_generator(), tiny_discriminator(learnable_gamma=True), seed=3)
    model.compile(d_optimizer=adam(), g_optimizer=adam(), n_dis=2)
    model.fit(tf.data.Dataset.from_tensors(real_images()).repeat(2), verbose=0)
    path, z = tmp_path / "gan.keras", np.ones((4, 8), np.float32)
    model.save(path)
    np.save(tmp_path / "z.npy", z)
    script = tmp_path / "load.py"
    script.write_text(SAVED_CHECK)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            str(path),
            str(tmp_path / "z.npy"),
            str(tmp_path / "g.npy"),
            str(tmp_path / "d.npy"),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    images = np.asarray(model(z))
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), images)
    np.testing.assert_array_equal(
        np.load(tmp_path / "d.npy"), np.asarray(model.discriminator(images))
    )


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_backup_and_restore_resumes_an_interrupted_fit(tmp_path):
    """fit interrupted after epoch 1 and run again resumes at epoch 2 and ends where an
    uninterrupted fit ends (weights, u, BN statistics, optimizer slots, the draws)."""
    data = tf.data.Dataset.from_tensors(real_images()).repeat()

    def new_model():
        keras.utils.set_random_seed(7)
        model = bsn.BSNGAN(tiny_generator(), tiny_discriminator(), seed=3)
        model.compile(d_optimizer=adam(), g_optimizer=adam(), n_dis=2)
        return model

    straight = new_model()
    straight.fit(data, epochs=4, steps_per_epoch=2, verbose=0)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(KeyboardInterrupt):
        new_model().fit(
            data, epochs=4, steps_per_epoch=2, verbose=0, callbacks=[backup, _Interrupt()]
        )
    resumed = new_model()
    epochs = []
    resumed.fit(
        data,
        epochs=4,
        steps_per_epoch=2,
        verbose=0,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
            keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epochs.append(e)),
        ],
    )
    assert epochs == [2, 3]
    assert int(resumed.g_optimizer.iterations.numpy()) == 8
    for x, y in zip(
        resumed.variables + resumed.d_optimizer.variables,
        straight.variables + straight.d_optimizer.variables,
        strict=True,
    ):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-6, atol=1e-7, err_msg=x.path)


def test_callbacks_write_sigmas_slopes_and_sample_grids(tmp_path):
    model = bsn.BSNGAN(tiny_generator(), tiny_discriminator())
    model.compile(d_optimizer=adam(), g_optimizer=adam())
    model.fit(
        tf.data.Dataset.from_tensors(real_images(8)).repeat(4),
        verbose=0,
        callbacks=[
            bsn.SpectralNormLogger(str(tmp_path / "tb"), every_n_steps=2),
            bsn.SampleGrid(str(tmp_path / "grid"), every_n_steps=2, rows=2, cols=3),
        ],
    )
    assert sorted(os.listdir(tmp_path / "grid")) == ["global_id-1.png", "global_id-3.png"]
    tags = {}
    for name in os.listdir(tmp_path / "tb"):
        for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "tb" / name)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    assert tags["d/sigma0_0"] == [1, 3]  # BSN conv: the mean and the two sigmas
    assert {
        "d/sigma0_1",
        "d/sigma0_2",
        "d/sigma1",
        "d/mean_real_slopes",
        "d/max_fake_slopes",
        "loss/d",
        "loss/g",
    } <= set(tags)


def test_each_misuse_is_one_clear_user_error():
    with pytest.raises(
        ConfigError,
        match=r"unknown sn_mode 'bsn'; expected one of 'none', "
        r"'SN', 'BSN'",
    ):
        bsn.SNConv2D(4, 3, padding="same", sn_mode="bsn")
    for bad in (0, -1.0, float("nan"), "1.0", True):
        with pytest.raises(ConfigError, match="expected a positive number"):
            bsn.SNDense(1, scale=bad)
    plain = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    with pytest.raises(
        ConfigError,
        match="has no spectrally normalized layer; build it from gan.bsn.SNConv2D / SNDense",
    ):
        bsn.BSNGAN(tiny_generator(), plain)
    model = bsn.BSNGAN(tiny_generator(), tiny_discriminator())
    model.compile(d_optimizer=adam(), g_optimizer=adam())
    with pytest.raises(
        DataError,
        match=r"images of shape \(16, 16, 3\) but the generator makes "
        r"\(8, 8, 3\); resize the images",
    ):
        model.fit(tf.data.Dataset.from_tensors(real_images(4, size=16)), verbose=0)
    for error in (ConfigError, DataError):  # library users catch ValueError
        assert issubclass(error, UserError) and issubclass(error, ValueError)


def test_two_models_train_one_after_the_other_under_mirrored_strategy(tmp_path):
    """Two BSNGAN fits, then two 2-replica Trainers of different sizes, in one process on two
    logical CPUs (tests/two_models_check.py): each trains, replicas stay identical."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "two_models_check.py"), str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    r = json.loads(lines[0][len("RESULT ") :])
    assert r["same_strategy"]
    for fit in r["fit"]:
        assert fit["replicas"] == 2 and fit["steps"] == 3 and fit["spread"] == 0.0
        assert math.isfinite(fit["loss_d"])
    assert [t["d_variables"] for t in r["trainers"]] == [21, 14]  # seven gammas apart
    assert all(t["replicas"] == 2 and math.isfinite(t["loss_g"]) for t in r["trainers"])


def twenty_lines(path: str, heading: str) -> str:
    """The first python block under ``heading`` in the markdown file ``path``."""
    with open(path) as f:
        text = f.read()
    after = text[text.index(heading) :]
    start = after.index("```python\n") + len("```python\n")
    return after[start : after.index("```", start)]


@pytest.mark.parametrize(
    "path, heading",
    [("docs/library.md", "## Twenty lines"), ("README.md", "## Use the layers in your own model")],
)
def test_the_documented_twenty_line_use_trains(path, heading):
    code = twenty_lines(os.path.join(REPO, path), heading)
    assert len([line for line in code.splitlines() if line.strip()]) <= 20
    namespace = {"images": tf.data.Dataset.from_tensors(real_images(8, size=16))}
    exec(compile(code, path, "exec"), namespace)
    assert int(namespace["gan"].g_optimizer.iterations.numpy()) == 10


def test_the_papers_networks_save_and_load_inside_bsngan(tmp_path):
    """BSNGAN on the paper's CNN and ResNet networks (gammas, scale, BSN) round-trips through
    a .keras file with identical G and D outputs."""
    from gan.networks.cnn import CNNDiscriminator, CNNGenerator
    from gan.networks.resnet import ResNetDiscriminator, ResNetGenerator

    w, shape = 1 / 16, (16, 16, 3)
    pairs = [
        (
            CNNGenerator(2, latent_dim=8, width=w),
            CNNDiscriminator("BSN", 1.3, "diff", shape, width=w),
        ),
        (
            ResNetGenerator(16, latent_dim=8, width=w),
            ResNetDiscriminator("BSN", 1.3, "same", shape, w),
        ),
    ]
    z = np.ones((2, 8), np.float32)
    for generator, discriminator in pairs:
        model = bsn.BSNGAN(generator, discriminator)
        model.compile(d_optimizer=adam(), g_optimizer=adam())
        model.fit(tf.data.Dataset.from_tensors(real_images(4, size=16)).repeat(2), verbose=0)
        model.save(tmp_path / "paper.keras")
        again = keras.models.load_model(tmp_path / "paper.keras")
        assert type(again.discriminator) is type(discriminator)
        images = np.asarray(model(z))
        np.testing.assert_array_equal(np.asarray(again(z)), images)
        np.testing.assert_array_equal(
            np.asarray(again.discriminator(images)), np.asarray(discriminator(images))
        )
