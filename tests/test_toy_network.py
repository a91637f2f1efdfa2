"""A network is one registration: a toy network registered by the plugin module
tests/toy_network.py, and nowhere else, is checked by its own spec, planned by --dry_run, trained
for two iterations by the training loop, and, named in a task's ``plugins``, trained by the
run's own process (docs/architecture.md "Adding a network" walks through these files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gan.config import REPO_ROOT, ConfigError, validate_run_config
from gan.networks.specs import NETWORKS, register_network, unregister_network
from gan.schedules import CNNSchedule
from gan.shapes import make_shapes
from tests.after_training import assert_one_error_line, cli

PLUGIN = "tests.toy_network"


@pytest.fixture(scope="module", autouse=True)
def toy():
    """The plugin module, its network registered (importing it registers it once a process)."""
    import tests.toy_network as plugin

    if "toy" not in NETWORKS:
        register_network(plugin.TOY)
    yield plugin
    unregister_network("toy")


def toy_config(**keys):
    return validate_run_config(
        {
            "dataset": "shapes",
            "network": "toy",
            "iteration": 2,
            "batch_size": 4,
            "metrics": [],
            **keys,
        }
    )


def write_task(folder, **global_config) -> str:
    folder.mkdir()
    config = {"dataset": "shapes", "network": "toy", "iteration": 2, **global_config}
    (folder / "config.py").write_text(
        textwrap.dedent(f"""
        config = {{
            "scheduler_config": {{"gpu": ["0"], "result_root_folder": "results"}},
            "global_config": {config!r},
            "test_config": [{{"run": [0]}}],
        }}
    """)
    )
    return str(folder)


def test_the_toy_networks_spec_owns_its_checks(toy):
    TOY = toy.TOY
    assert toy_config().network == "toy"
    with pytest.raises(ConfigError, match="the toy networks need 32x32 images, got 48x48"):
        toy_config(dataset="stl10")
    with pytest.raises(ConfigError, match="dataset 'imagenet' needs network 'resnet'"):
        toy_config(dataset="imagenet")
    with pytest.raises(
        ConfigError,
        match="implemented for the CNN networks only; use precision 'float32' with network 'toy'",
    ):
        toy_config(precision="mixed_bfloat16")
    with pytest.raises(ConfigError, match="implemented for network 'resnet' only"):
        toy_config(num_gpus=2)
    with pytest.raises(ValueError, match="registered already"):
        register_network(TOY)
    unregister_network("toy")
    try:
        with pytest.raises(ConfigError, match="network = 'toy', expected one of 'cnn', 'resnet'"):
            toy_config()
    finally:
        register_network(TOY)


def test_dry_run_plans_the_toy_network_and_refuses_what_its_spec_refuses(tmp_path, capsys):
    task = write_task(tmp_path / "toy")
    assert cli(task, "--dry_run") == 0
    assert "toy: 1 runs in 1 folders" in capsys.readouterr().out
    bad = write_task(tmp_path / "toy_stl10", dataset="stl10")
    assert_one_error_line(capsys, cli(bad, "--dry_run"), "toy networks need 32x32 images")


def test_the_training_loop_trains_the_toy_network_for_two_iterations(tmp_path, toy):
    from gan.trainer import Trainer

    images, _ = make_shapes(16, seed=0)
    trainer = Trainer(toy_config(vis_num_h=2, vis_num_w=2), str(tmp_path), images, seed=0)
    assert trainer.spec is toy.TOY and isinstance(trainer.schedule, CNNSchedule)
    assert isinstance(trainer.generator, toy.ToyGenerator)
    before = [v.numpy().copy() for v in trainer.generator.trainable_variables]
    assert trainer.train()
    assert int(trainer.global_id.numpy()) == 1
    after = [v.numpy() for v in trainer.generator.trainable_variables]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert os.path.isfile(os.path.join(str(tmp_path), "checkpoint", "checkpoint"))


def test_a_plugin_network_named_in_the_task_trains_in_the_runs_own_process(tmp_path):
    settings = dict(batch_size=4, metrics=[], vis_num_h=2, vis_num_w=2, seed=0)
    task = write_task(tmp_path / "toy_plugin", plugins=[PLUGIN], **settings)
    # main.py and the run it starts are fresh processes: only the plugins key registers "toy"
    proc = subprocess.run(
        [sys.executable, "main.py", task],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [run_dir] = [str(p) for p in (tmp_path / "toy_plugin" / "results").iterdir() if p.is_dir()
                 and p.name != "report"]  # fmt: skip
    with open(os.path.join(run_dir, "config.json")) as f:
        assert json.load(f)["plugins"] == [PLUGIN]
    assert os.path.isfile(os.path.join(run_dir, "checkpoint", "checkpoint"))
    with open(os.path.join(run_dir, "status.json")) as f:
        assert json.load(f)["state"] == "completed"


def test_a_missing_plugin_is_one_error_line(tmp_path, capsys):
    task = write_task(tmp_path / "no_plugin", plugins=["tests.no_such_plugin"])
    assert_one_error_line(capsys, cli(task, "--dry_run"), "plugins", "'tests.no_such_plugin'")
