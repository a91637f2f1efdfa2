"""Every script in benchmarks/ runs to its end at a tiny size (its figures are not checked).

Each script runs as a user runs it (``python benchmarks/X.py``, a fresh process, its real code
path) with size flags that make it take seconds. A change that breaks a script (a renamed
function, a config it builds that no longer validates) fails here instead of silently.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(REPO, "benchmarks")

#: Per script: the flags of a seconds-long run and a line its output must hold at the end.
TINY = {
    "train_step.py": (
        [
            "--datasets=cifar10",
            "--iters=1",
            "--warmup=1",
            "--batch_size=4",
            "--num_images=16",
            "--matmul_n=64",
            "--noreference",
            "--celeba_memory",
            "--memory_images=64",
            "--memory_iterations=2",
            "--memory_metrics=swd",
            "--memory_fid_samples=16",
        ],
        "celeba run, float32 (64x64x64x3 uint8",
    ),
    "resnet_step.py": (
        [
            "--sizes=32",
            "--iters=1",
            "--warmup=1",
            "--width=0.125",
            "--n_dis=1",
            "--d_batch_size=2",
            "--g_batch_size=2",
        ],
        "  32 0.125",
    ),
    "metrics.py": (["--tiny", "--images=8", "--batch=4"], "stub "),
    "sample.py": (["--num=8", "--batch_size=4"], "peak RSS at 16 minus at 8"),
    "imagenet_loader.py": (
        [
            "--num_files=24",
            "--num_classes=2",
            "--batch_size=4",
            "--seconds=0.05",
            "--warmup_batches=1",
        ],
        "tf.numpy_function(np.load)",
    ),
    "library_step.py": (
        [
            "--iters=1",
            "--warmup=1",
            "--batch_size=4",
            "--width=0.125",
            "--matmul_n=64",
            "--configs=SN:no,BSN:yes",  # each sn_mode and each diagnostics setting once
        ],
        "| BSN | yes |",
    ),
    "backend_ops.py": (
        ["--backend=jax", "--batch_size=2", "--width=0.125", "--repeats=1"],
        "| total |",
    ),
    "quickstart.py": (
        [
            "--matmul_n=64",
            "--only=sn_mode=SN",
            "--set=iteration=2,vis_freq=2,metric_freq=2,save_checkpoint_freq=2,vis_num_h=2,"
            "vis_num_w=2,swd_num_samples=16,metrics=['swd']",
        ],
        "quickstart (python main.py --set",
    ),
    "recipe.py": (
        [
            "--steps=3",
            "--batch_size=8",
            "--seeds=0",
            "--subset=80",
            "--digits=digits.npz",  # written by SETUP: no scikit-learn in the test environment
            "--samples=16",
            "--classifier_epochs=1",
            "--cnn_width=0.125",
            "--out=grids",
        ],
        "load average at the end",
    ),
}


def check_recipe_table(stdout: str, folder) -> None:
    """recipe.py's table: the real digits' row, then one row per run (seed 0), each with a
    finite score in [1, 10], a finite distance, 0..10 classes, and its sample grid."""
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    header, table = rows[0], rows[1:]
    assert [c.strip() for c in header][4:7] == ["score", "distance", "classes"]
    assert [(r[0].strip(), r[3].strip()) for r in table] == [("real", "-")] + [
        (run, "0") for run in "ABCDE"
    ]
    for r in table:
        score, distance, classes = float(r[4]), float(r[5]), int(r[6])
        assert 1.0 - 1e-6 <= score <= 10.0 + 1e-6 and math.isfinite(distance), r
        assert 0 <= classes <= 10, r
    grids = sorted(os.listdir(folder / "grids"))
    assert grids == sorted(["recipe-real.png"] + [f"recipe-{run}-seed0.png" for run in "ABCDE"])


#: Per script: a check of its output beyond the expected line (stdout, the run's folder).
CHECKS = {"recipe.py": check_recipe_table}


def write_digits(folder) -> None:
    """``digits.npz`` in ``folder``: 80 8x8 images of grey levels 0..16 and labels 0..9 in the
    layout of scikit-learn's digits (recipe.py's ``--digits``)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 17, (80, 8, 8)).astype(np.float64)
    np.savez(folder / "digits.npz", images=images, target=np.arange(80) % 10)


#: Per script: what its tiny run needs in its working folder first.
SETUP = {"recipe.py": write_digits}


def test_every_benchmark_script_has_a_tiny_run():
    scripts = sorted(n for n in os.listdir(BENCHMARKS) if n.endswith(".py") and n != "__init__.py")
    assert scripts == sorted(TINY)


@pytest.mark.parametrize("script", sorted(TINY))
def test_benchmark_script_runs_at_a_tiny_size(script, tmp_path):
    flags, expected = TINY[script]
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        BSN_CACHE_DIR=str(tmp_path / "cache"),
    )
    if script in SETUP:
        SETUP[script](tmp_path)
    # Started outside the repository, as the scripts find it from their own path.
    out = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, script), *flags],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr[-5000:]
    assert expected in out.stdout, out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    if script in CHECKS:
        CHECKS[script](out.stdout, tmp_path)


def test_recipe_benchmark_trains_the_readme_model_as_written():
    """benchmarks/recipe.py's runs A and B are the README's networks (layer by layer, the same
    configs but for names; B without the paper's initializer)."""
    from benchmarks import recipe
    from tests.test_library import twenty_lines

    code = twenty_lines(os.path.join(REPO, "README.md"), "## Use the layers in your own model")
    networks = code[: code.index("gan = bsn.BSNGAN")]

    def layers(model):
        return [
            (type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"})
            for layer in model.layers
        ]

    readme = {}
    exec(compile(networks, "README.md", "exec"), readme)
    paper = recipe.readme_model(paper_init=True)
    assert [layers(m) for m in paper] == [
        layers(readme["generator"]),
        layers(readme["discriminator"]),
    ]
    readme["w"] = {}
    exec(compile(networks.replace('w = {"kernel', '_ = {"kernel'), "README.md", "exec"), readme)
    keras_defaults = recipe.readme_model(paper_init=False)
    assert [layers(m) for m in keras_defaults] == [
        layers(readme["generator"]),
        layers(readme["discriminator"]),
    ]
