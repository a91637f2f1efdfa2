"""The learnable-gamma families and WGAN-GP (docs/faithfulness.md sections 4-5)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from gan import losses
from gan.config import ConfigError, validate_run_config
from gan.networks.cnn import CNNDiscriminator
from gan.tasks import load_task
from gan.trainer import Trainer
from gan.training_checkpoints import MODEL_NAME

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)


def _config(**over):
    cfg = dict(
        dataset="cifar10",
        iteration=2,
        mg=4,
        batch_size=4,
        vis_freq=1000,
        metric_freq=1000,
        save_checkpoint_freq=1000,
        metrics=[],
        loss="wgan_gp",
        d_gp_coe=10.0,
        gamma="diff",
    )
    cfg.update(over)
    return validate_run_config(cfg)


def test_gradient_penalty_of_a_linear_discriminator_has_the_closed_form():
    rng = np.random.default_rng(1)
    w = tf.constant(rng.standard_normal((1, 4, 4, 3)) * 0.3, tf.float32)

    def linear_d(x):
        return tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None] + 0.7

    real = tf.constant(rng.standard_normal((5, 4, 4, 3)), tf.float32)
    fake = tf.constant(rng.standard_normal((5, 4, 4, 3)), tf.float32)
    alpha = tf.constant(rng.uniform(size=(5, 1, 1, 1)), tf.float32)
    gp = losses.gradient_penalty(linear_d, real, fake, alpha)
    norm = np.sqrt(np.sum(w.numpy() ** 2) + 1e-8)
    assert float(gp) == pytest.approx((norm - 1.0) ** 2, rel=1e-5)


@pytest.mark.parametrize("gamma,count", [("none", 0), ("same", 1), ("diff", 8)])
def test_gamma_variable_counts(gamma, count):
    d = CNNDiscriminator("SN", 1.0, gamma, image_shape=(32, 32, 3))
    assert len(d.gammas) == count
    assert all(g.trainable for g in d.gammas)
    assert all(float(g) == 1.0 for g in d.gammas)


@pytest.mark.parametrize("gamma", ["same", "diff"])
def test_gamma_of_one_gives_the_no_gamma_outputs(gamma):
    plain = CNNDiscriminator("BSN", 1.0, "none", image_shape=(32, 32, 3))
    learn = CNNDiscriminator("BSN", 1.0, gamma, image_shape=(32, 32, 3))
    for a, b in zip(plain.normalized_layers, learn.normalized_layers, strict=True):
        b.set_weights(a.get_weights())
        b.bias.assign(tf.random.normal(b.bias.shape))
        a.bias.assign(b.bias)
    x = tf.random.normal([3, 32, 32, 3])
    np.testing.assert_allclose(learn(x).numpy(), plain(x).numpy(), rtol=1e-6)
    learn.gammas[0].assign(2.0)
    assert not np.allclose(learn(x).numpy(), plain(x).numpy())


def test_gammas_move_under_d_steps_only_and_are_logged(tmp_path):
    t = Trainer(_config(), str(tmp_path), IMAGES, seed=0)
    gammas = lambda: np.array([float(g) for g in t.discriminator.gammas])  # noqa: E731
    g0 = gammas()
    z = t.schedule.sample_z(4)
    t.schedule.g_step(z)
    np.testing.assert_array_equal(g0, gammas())
    stats = t.schedule.d_step(
        t.schedule.sample_real(4), t.generator(z, training=True), diagnostics=True
    )
    assert not np.allclose(g0, gammas())
    assert {f"d/gamma{i}" for i in range(8)} <= set(stats)
    assert "loss/d/gp" in stats and float(stats["loss/d/gp"]) >= 0.0
    d_ids = {id(v) for v in t.discriminator.trainable_variables}
    g_ids = {id(v) for v in t.generator.trainable_variables}
    assert all(id(g) in d_ids and id(g) not in g_ids for g in t.discriminator.gammas)


def test_restore_keeps_the_learned_gammas(tmp_path):
    t = Trainer(_config(gamma="same"), str(tmp_path), IMAGES, seed=0)
    assert t.train()
    learned = float(t.discriminator.gammas[0])
    assert learned != 1.0
    again = Trainer(_config(gamma="same", iteration=3), str(tmp_path), IMAGES, seed=0)
    assert again.restore() == 1
    assert float(again.discriminator.gammas[0]) == learned


@pytest.mark.parametrize("task", ["same_gamma-CNN", "diff_gamma-CNN"])
def test_gamma_tasks_have_the_original_75_runs(task):
    # The original's values, from fjxmlzn/BSN at commit
    # 10862a2ce1a3efd045539d8b72c5353e888e4a92: same_gamma-CNN/config.py and
    # diff_gamma-CNN/config.py (their test_config blocks give the 75 runs and the first run's
    # name; d_gp_coe 10.0 is in their global_config); the WGAN-GP loss and the per-layer or
    # shared gamma in same_gamma-CNN/gan/ and diff_gamma-CNN/gan/ (gan.py, network.py).
    t = load_task(os.path.join(REPO, "tasks", task))
    assert len(t.runs) == 75 and len(t.distinct_runs()) == 75
    cfg = t.runs[0].config
    assert (cfg.loss, cfg.gamma, cfg.d_gp_coe, cfg.sn_mode) == (
        "wgan_gp",
        task.split("_")[0],
        10.0,
        "SN",
    )
    assert t.runs[0].name == (
        "d_beta1-0.5,d_beta2-0.999,d_lr-0.0001,dataset-cifar10,g_beta1-0.5,"
        "g_beta2-0.999,g_lr-0.0001,iteration-400000,mg-4,n_dis-1,run-0,"
        "sn_mode-SN,"
    )


@pytest.mark.parametrize(
    "over,message",
    [
        (dict(d_gp_coe=None), "needs d_gp_coe"),
        (dict(d_gp_coe=-1.0), "d_gp_coe = -1.0, expected a number >= 0"),
        (dict(loss="wgan"), "loss = 'wgan', expected one of 'hinge', 'wgan_gp'"),
        (dict(gamma="per_layer"), "gamma = 'per_layer', expected one of 'none', 'same', 'diff'"),
        (dict(gamma="same", scale=2.0), "leave scale at 1.0"),
    ],
)
def test_bad_gamma_family_configs_are_clear_errors(over, message):
    cfg = dict(dataset="cifar10", iteration=2, mg=4, loss="wgan_gp", d_gp_coe=10.0)
    cfg.update(over)
    if cfg["d_gp_coe"] is None:
        del cfg["d_gp_coe"]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_run_config(cfg)


def _scalar_tags(checkpoint_dir) -> set[str]:
    tags = set()
    for name in os.listdir(checkpoint_dir):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(checkpoint_dir, name)):
                tags.update(v.tag for v in event.summary.value)
    return tags


@pytest.mark.parametrize("task,gammas", [("same_gamma-CNN", 1), ("diff_gamma-CNN", 8)])
def test_gamma_task_runs_end_to_end_through_main(tmp_path, cifar_root, task, gammas):
    """One run of the real task config, shortened by --set, writes every output."""
    data_root, _ = cifar_root
    overrides = (
        f"iteration=6,data_root={str(data_root)!r},batch_size=8,vis_freq=3,"
        "vis_num_h=2,vis_num_w=2,summary_freq=1,metric_freq=3,save_checkpoint_freq=3,"
        "extra_checkpoint_freq=1000,metrics=['swd'],swd_num_samples=32,network_width=0.25"
    )
    cmd = [
        sys.executable,
        os.path.join(REPO, "main.py"),
        task,
        "--results_dir",
        str(tmp_path),
        "--only",
        "dataset=cifar10,g_lr=0.0002,d_lr=0.0002,run=0",
        "--set",
        overrides,
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "report"]
    assert (tmp_path / "report" / "report.md").is_file()  # written after the scheduler ends
    assert (run_dir / "COMPLETED").is_file()
    assert (run_dir / "worker.log").stat().st_size > 0
    assert "iter 5 ends:" in (run_dir / "time.txt").read_text()
    assert sorted(os.listdir(run_dir / "sample")) == ["global_id-2.png", "global_id-5.png"]
    rows = (run_dir / "metrics.csv").read_text().split()
    assert rows[0] == "global_id,swd" and [r.split(",")[0] for r in rows[1:]] == ["2", "5"]
    assert (run_dir / "checkpoint" / "model-5.index").is_file()
    tags = _scalar_tags(run_dir / "checkpoint")
    assert {f"d/gamma{i}" for i in range(gammas)} <= tags and f"d/gamma{gammas}" not in tags
    assert {"loss/d/gp", "loss/d", "loss/g", "d/mean_real_slopes", "d/sigma7"} <= tags
    with open(run_dir / "config.json") as f:
        config = json.load(f)
    assert config["loss"] == "wgan_gp" and config["d_gp_coe"] == 10.0


def test_checkpoint_written_before_the_gamma_rename_restores(tmp_path):
    """Before the rename the gammas were the variables ``discriminator/scale{i}`` and
    checkpoints named them by that path; such a checkpoint still restores them."""
    old = Trainer(_config(), str(tmp_path), IMAGES, seed=0)
    for i, g in enumerate(old.discriminator.gammas):
        g.assign(1.5 + i)
    old.global_id.assign(1)
    # the layout the trainer wrote before the rename: every variable by path, gammas as scale{i}
    d_paths = {re.sub(r"/gamma(\d+)$", r"/scale\1", v.path): v for v in old.discriminator.variables}
    assert "discriminator/scale7" in d_paths and not any("gamma" in p for p in d_paths)
    legacy = tf.train.Checkpoint(
        generator={v.path: v for v in old.generator.variables},
        discriminator=d_paths,
        g_optimizer=list(old.g_opt.variables),
        d_optimizer=list(old.d_opt.variables),
        rng=old.rng,
        vis_latents=old.vis_latents,
        global_id=old.global_id,
    )
    path = tf.train.CheckpointManager(
        legacy, old.checkpoint_dir, max_to_keep=5, checkpoint_name=MODEL_NAME
    ).save(checkpoint_number=1)
    names = [n for n, _ in tf.train.list_variables(path)]
    assert any("Sscale0" in n for n in names)
    assert not any("discriminator.Sgamma" in n for n in names)

    again = Trainer(_config(iteration=3), str(tmp_path), IMAGES, seed=0)
    assert again.restore() == 1
    assert [float(g) for g in again.discriminator.gammas] == [1.5 + i for i in range(8)]
    assert [v.path for v in again.discriminator.gammas][:2] == [
        "discriminator/gamma0",
        "discriminator/gamma1",
    ]


def _layout_children(t, layout: str) -> dict:
    """The children of a checkpoint of ``t`` naming the gammas as ``layout`` does: "scale"
    (written before the rename: scale{i} only), "both" (written until the gammas were mapped
    at restore time: gamma{i}, and scale{i} as a second name of the same variables)."""
    d_paths = {}
    for v in t.discriminator.variables:
        m = re.search(r"/gamma(\d+)$", v.path)
        if not m or layout == "both":
            d_paths[v.path] = v
    for v in t.discriminator.gammas:
        d_paths[re.sub(r"/gamma(\d+)$", r"/scale\1", v.path)] = v
    return dict(
        generator={v.path: v for v in t.generator.variables},
        discriminator=d_paths,
        g_optimizer=list(t.g_opt.variables),
        d_optimizer=list(t.d_opt.variables),
        rng=t.rng,
        vis_latents=t.vis_latents,
        global_id=t.global_id,
    )


def _names(path: str, word: str) -> tuple[list[str], list[str]]:
    """The tensor keys and the object-graph names of the checkpoint ``path`` naming a gamma
    ``<word>{i}``."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    keys = sorted(
        n for n, _ in tf.train.list_variables(path) if re.search(rf"discriminator\.S{word}\d+/", n)
    )
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(tf.train.load_checkpoint(path).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    names = sorted(
        c.local_name
        for node in graph.nodes
        for c in node.children
        if re.fullmatch(rf"discriminator/{word}\d+", c.local_name)
    )
    return keys, names


def test_checkpoints_of_every_gamma_naming_restore_the_same_values(tmp_path):
    """Checkpoints naming the gammas scale{i} only, both ways, and gamma{i} only (written now)
    resume to the same values, and the after-training reader reads their generator."""
    from gan.generator_checkpoints import CheckpointRef, load_generator
    from gan.training_checkpoints import RunCheckpoints

    src = Trainer(_config(), str(tmp_path / "src"), IMAGES, seed=0)
    for i, g in enumerate(src.discriminator.gammas):
        g.assign(1.5 + i)
    paths = {"gamma": src.save(1)}
    for layout in ("scale", "both"):
        manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(**_layout_children(src, layout)),
            str(tmp_path / layout),
            max_to_keep=5,
            checkpoint_name=MODEL_NAME,
        )
        paths[layout] = manager.save(checkpoint_number=1)

    gammas = [f"discriminator/gamma{i}" for i in range(8)]
    scales = [f"discriminator/scale{i}" for i in range(8)]
    # a new checkpoint holds each gamma once, under gamma{i}, and names no scale{i}
    assert [len(k) for k in _names(paths["gamma"], "gamma")] == [8, 8]
    assert _names(paths["gamma"], "scale") == ([], [])
    assert _names(paths["both"], "gamma")[1] == gammas
    assert _names(paths["both"], "scale")[1] == scales
    assert _names(paths["scale"], "gamma") == ([], [])
    assert [len(k) for k in _names(paths["scale"], "scale")] == [8, 8]

    expected = {v.path: v.numpy() for v in src.generator.variables + src.discriminator.variables}
    again = Trainer(_config(iteration=3), str(tmp_path / "again"), IMAGES, seed=1)
    restored = again.generator.variables + again.discriminator.variables
    for layout, path in paths.items():
        for v in restored:
            v.assign(tf.zeros_like(v))
        checkpoints = RunCheckpoints(
            again.checkpoints.objects,
            again.global_id,
            os.path.dirname(path),
            renamed=again.checkpoints.renamed,
        )
        assert checkpoints.restore() == (1, True), layout
        assert [float(g) for g in again.discriminator.gammas] == [1.5 + i for i in range(8)]
        for v in restored:
            np.testing.assert_array_equal(v.numpy(), expected[v.path], err_msg=layout)
        generator = load_generator(src.config, CheckpointRef(1, path))
        for v in generator.variables:
            np.testing.assert_array_equal(v.numpy(), expected[v.path], err_msg=layout)
