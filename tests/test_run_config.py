"""The typed run config: one frozen object, every rule checked when it is made."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from gan.config import REPO_ROOT, RUN_KEYS, ConfigError, RunConfig, validate_run_config
from gan.metrics.names import setting_keys
from tests.helpers import run_config


def test_every_key_is_an_attribute_with_its_default_and_a_doc():
    cfg = validate_run_config({"dataset": "cifar10", "mg": 4, "iteration": 10})
    fields = [f.name for f in dataclasses.fields(RunConfig) if f.name != "metric_values"]
    assert list(RUN_KEYS) == fields + setting_keys()  # then the registered metrics' own keys
    assert list(cfg.to_dict()) == list(RUN_KEYS)
    for key, spec in RUN_KEYS.items():
        assert spec.doc, key
        if key not in ("dataset", "mg", "iteration"):
            assert cfg.value(key) == (
                list(spec.default) if isinstance(spec.default, tuple) else spec.default
            ), key
    assert (cfg.dataset, cfg.mg, cfg.iteration, cfg.image_shape) == ("cifar10", 4, 10, (32, 32, 3))


def test_a_run_config_cannot_be_changed_in_place():
    cfg = run_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.batch_size = 8
    assert isinstance(cfg.metrics, tuple)  # a list given in a task file is not shared


def test_replace_checks_the_changed_config_as_a_new_one():
    cfg = run_config(batch_size=4)
    assert cfg.replace(batch_size=8).batch_size == 8 and cfg.batch_size == 4
    with pytest.raises(ConfigError, match="--set: unknown key 'n_dsi'.*did you mean 'n_dis'"):
        cfg.replace(where="--set", n_dsi=2)
    with pytest.raises(ConfigError, match="--set: gamma 'same' learns the scale"):
        cfg.replace(where="--set", gamma="same", scale=2.0)


def test_to_dict_is_what_config_json_holds_and_reads_back_equal():
    cfg = run_config(metrics=["swd", "fid"], seed=3)
    text = json.dumps(cfg.to_dict())
    assert json.loads(text)["metrics"] == ["swd", "fid"]
    assert validate_run_config(json.loads(text)) == cfg


@pytest.mark.parametrize(
    "keys,message",
    [
        ({"metrics": ["fid", "sfid"]}, "unknown metric 'sfid'"),
        ({"metrics": ["fid", "fid"]}, "'fid' listed more than once"),
        (
            {"metrics": ["inception_score"], "is_num_samples": 5},
            "is_num_samples = 5 cannot make is_num_splits = 10 splits",
        ),
        ({"mg": 6}, "mg = 6 makes 48x48 images but the dataset 'cifar10' has 32x32; use mg = 4"),
        (
            {
                "network": "resnet",
                "d_batch_size": 4,
                "g_batch_size": 4,
                "precision": "mixed_bfloat16",
            },
            "precision 'mixed_bfloat16' is implemented for the CNN networks only",
        ),
        ({"dataset": "imagenet", "mg": 8}, "dataset 'imagenet' needs network 'resnet'"),
        ({"loss": "wgan_gp"}, "loss 'wgan_gp' needs d_gp_coe"),
    ],
)
def test_each_combination_rule_is_checked_when_the_config_is_made(keys, message):
    with pytest.raises(ConfigError, match=message):
        validate_run_config(
            {"dataset": "cifar10", "mg": 4, "iteration": 1, **keys}, where="tasks/x/config.py"
        )


def test_dry_run_refuses_a_combination_only_the_networks_used_to_check(tmp_path):
    task = tmp_path / "task"
    task.mkdir()
    (task / "config.py").write_text(
        "config = {'scheduler_config': {'gpu': ['0']}, 'global_config': {'dataset': 'cifar10', "
        "'network': 'resnet', 'd_batch_size': 8, 'g_batch_size': 8, 'iteration': 2, "
        "'precision': 'mixed_bfloat16'}, 'test_config': [{'run': [0]}]}\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO_ROOT, "main.py"),
            str(task),
            "--dry_run",
            "--results_dir",
            str(tmp_path / "res"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("error:") == 1 and "Traceback" not in proc.stderr
    assert "config.py" in proc.stderr and "mixed_bfloat16" in proc.stderr
    assert not (tmp_path / "res").exists()


def test_the_first_problem_in_schema_order_is_reported_even_when_built_directly():
    with pytest.raises(ConfigError, match="sn_mode = 'XN'"):
        validate_run_config({"dataset": "cifar10", "sn_mode": "XN"})  # before missing iteration
    with pytest.raises(ConfigError, match="missing required key 'iteration'"):
        RunConfig(dataset="cifar10", mg=4)


@pytest.mark.parametrize("key", ["fid_num_samples", "fid_num_real"])
def test_a_fid_count_below_two_is_refused_when_the_config_is_made(key):
    # one image has no covariance: FID, KID and the shapes metric need two
    with pytest.raises(ConfigError, match=f"{key} = 1, expected at least 2"):
        run_config(**{key: 1})
    assert run_config(**{key: 2}).value(key) == 2
