"""The project installs as the ``bsn-gan`` distribution and works outside the clone.

A wheel is built once per session from a copy of the sources (setuptools, offline, with this
environment's setuptools) and installed with ``--no-deps`` into a fresh virtual environment in a
temporary folder. That environment sees this one's installed dependencies through a ``.pth``
file (no second TensorFlow install) but not the clone, and every check runs in it with a
temporary folder as working directory. Also: ``pyproject.toml``'s dependencies are
``requirements.txt``'s pins as compatible ranges.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import zipfile

import pytest

from gan.config import REPO_ROOT
from tests.test_dependencies import canonical, third_party_imports

DISTRIBUTION = "bsn-gan"
SCRIPT = "bsn-gan"
# requirements.txt pins that only the preprocessing scripts under datasets/ (not installed) need.
CLONE_ONLY = {"tensorflow-datasets", "importlib-resources"}


def _pyproject() -> dict:
    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _pins(path: str) -> dict[str, str]:
    """``name -> version`` of a requirements file's own ``name==version`` lines."""
    pins = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                name, version = line.split("==")
                pins[canonical(name.strip())] = version.strip()
    return pins


def _run(cmd: list[str], cwd: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _check(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


class Installed:
    """The built wheel and a virtual environment outside the clone with it installed."""

    def __init__(self, root: str) -> None:
        src, dist, self.venv = (os.path.join(root, n) for n in ("src", "dist", "venv"))
        self.cwd = os.path.join(root, "cwd")
        os.makedirs(self.cwd)
        # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
        shutil.copytree(
            os.path.join(REPO_ROOT, "gan"),
            os.path.join(src, "gan"),
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(os.path.join(REPO_ROOT, name), src)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        _check(
            _run(
                pip + ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, src],
                cwd=root,
            )
        )
        (wheel,) = os.listdir(dist)
        self.wheel = os.path.join(dist, wheel)
        _check(_run([sys.executable, "-m", "venv", "--without-pip", self.venv], cwd=root))
        self.python = os.path.join(self.venv, "bin", "python")
        _check(
            _run(
                pip + ["--python", self.python, "install", "--no-deps", "--no-index", self.wheel],
                cwd=root,
            )
        )
        # This environment's dependencies, appended after the venv's own site-packages.
        site = _check(
            _run(
                [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                cwd=root,
            )
        ).strip()
        here = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
        with open(os.path.join(site, "_bsn_gan_test_dependencies.pth"), "w") as f:
            f.write("".join(f"{path}\n" for path in here))
        self.script = os.path.join(self.venv, "bin", SCRIPT)

    def python_code(self, code: str, cwd: str | None = None) -> str:
        return _check(_run([self.python, "-c", textwrap.dedent(code)], cwd=cwd or self.cwd))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    return Installed(str(tmp_path_factory.mktemp("packaging")))


def _declared(requirements: list[str]) -> dict[str, str]:
    """``name -> version spec`` of pyproject requirement strings."""
    declared = {}
    for requirement in requirements:
        name, spec = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
        declared[canonical(name)] = spec.replace(" ", "")
    return declared


def test_pyproject_dependencies_are_the_requirements_pins_as_compatible_ranges():
    """The core's dependencies and the [runner] extra together are requirements.txt's pins as
    ranges; the core needs only Keras, NumPy and Pillow; [jax] and [torch] pin what
    requirements-test.txt pins, [tensorflow] the runner's TensorFlow."""
    pins = _pins(os.path.join(REPO_ROOT, "requirements.txt"))
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    core = _declared(project["dependencies"])
    declared = {**core, **_declared(extras["runner"])}
    expected = {
        name: "~=" + ".".join(version.split(".")[:2])
        for name, version in pins.items()
        if name not in CLONE_ONLY
    }
    assert declared == expected
    assert set(core) == {"keras", "numpy", "pillow"}
    assert CLONE_ONLY <= set(pins)
    test_pins = _pins(os.path.join(REPO_ROOT, "requirements-test.txt"))
    for extra in ("jax", "torch"):
        for name, spec in _declared(extras[extra]).items():
            assert spec == "==" + test_pins[name], (extra, name)
    assert _declared(extras["tensorflow"]) == {"tensorflow": expected["tensorflow"]}


def test_the_installed_package_needs_nothing_from_the_clone_only_requirements():
    providers = importlib.metadata.packages_distributions()
    used = {
        canonical(dist)
        for module in third_party_imports(["gan"])
        for dist in providers.get(module, [])
    }
    assert not used & CLONE_ONLY


def test_the_project_metadata_names_the_package_and_the_console_script():
    project = _pyproject()["project"]
    assert project["name"] == DISTRIBUTION
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"] == {SCRIPT: "gan.cli:main"}


def test_the_wheel_holds_every_module_of_gan_and_no_other_top_level_package(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {"gan", info}
    sources = {
        os.path.relpath(os.path.join(folder, n), REPO_ROOT).replace(os.sep, "/")
        for folder, dirs, files in os.walk(os.path.join(REPO_ROOT, "gan"))
        for n in files
        if n.endswith(".py") and "__pycache__" not in folder
    }
    assert sources - names == set()
    assert f"{SCRIPT} = gan.cli:main" in entry_points


def test_the_venv_imports_gan_from_the_wheel_and_cannot_see_the_clone(installed):
    out = json.loads(
        installed.python_code("""
        import importlib.util, json, os, sys
        import gan, gan.config
        spec = importlib.util.find_spec("datasets")
        print(json.dumps({"gan": gan.__file__, "path": [os.path.abspath(p) for p in sys.path],
                          "root": gan.config.REPO_ROOT, "cwd": os.getcwd(),
                          "datasets": spec.origin if spec else None}))
    """)
    )
    venv, repo = os.path.realpath(installed.venv), os.path.realpath(REPO_ROOT)
    assert os.path.realpath(out["gan"]).startswith(venv + os.sep)
    assert repo not in {os.path.realpath(p) for p in out["path"]}
    assert not (out["datasets"] or "").startswith(os.path.join(repo, "datasets"))
    assert out["root"] == out["cwd"]  # installed: data/, results/, tasks/ under the cwd


def test_the_console_script_runs_the_same_cli_as_main_py(installed):
    def flag_names(text: str) -> set[str]:
        return set(re.findall(r"^\s+--(?:\[no\])?(\w+)", text, re.M))

    script = _run([installed.script, "--help"], cwd=installed.cwd)
    clone = _run([sys.executable, os.path.join(REPO_ROOT, "main.py"), "--help"], cwd=REPO_ROOT)
    assert (script.returncode, script.stderr) == (clone.returncode, clone.stderr)
    assert "Traceback" not in script.stdout + script.stderr and script.stdout.strip()
    script = _run([installed.script, "--helpfull"], cwd=installed.cwd)
    clone = _run([sys.executable, os.path.join(REPO_ROOT, "main.py"), "--helpfull"], cwd=REPO_ROOT)
    assert {"dry_run", "only", "set", "results_dir"} <= flag_names(script.stdout)
    assert flag_names(script.stdout) == flag_names(clone.stdout)


def test_the_console_script_lists_a_task_folder_outside_the_clone(installed, tmp_path):
    shutil.copytree(os.path.join(REPO_ROOT, "tasks", "quickstart"), tmp_path / "mine")
    out = _check(_run([installed.script, "mine", "--dry_run"], cwd=str(tmp_path)))
    results = os.path.join(str(tmp_path), "results", "mine")
    listed = [line.split()[-2] for line in out.splitlines() if "(new)" in line]
    assert [os.path.dirname(p) for p in listed] == [results] * 3, out
    assert not os.path.exists(os.path.join(str(tmp_path), "results"))  # a dry run writes nothing


def test_the_paper_task_folders_do_not_ship_with_the_package(installed, tmp_path):
    proc = _run([installed.script, "no_gamma-CNN", "--dry_run"], cwd=str(tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: task folder 'no_gamma-CNN' not found")


SAVE = """
    import sys
    import keras, numpy as np
    from gan.bsn import SNConv2D, SNDense, update_u

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        SNConv2D(4, 3, padding="same", sn_mode="BSN", scale=1.5),
        keras.layers.LeakyReLU(0.1),
        keras.layers.Flatten(),
        SNDense(1, sn_mode="SN"),
    ])
    update_u(model)  # a saved u that is not the initial one
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
    model.save(sys.argv[1])
    np.save(sys.argv[2], x)
    np.save(sys.argv[3], keras.ops.convert_to_numpy(model(x)))
"""

LOAD = """
    import sys
    import keras, numpy as np
    import gan.bsn  # registers the layers for loading

    model = keras.saving.load_model(sys.argv[1])
    y = keras.ops.convert_to_numpy(model(np.load(sys.argv[2])))
    assert np.array_equal(y, np.load(sys.argv[3])), (y, np.load(sys.argv[3]))
"""

EXAMPLE = """
    import keras, numpy as np, tensorflow as tf
    from gan.bsn import BSNGAN, SNConv2D, SNDense

    generator = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(4 * 4 * 8),
        keras.layers.Reshape((4, 4, 8)),
        keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh"),
    ])
    discriminator = keras.Sequential([
        keras.Input((8, 8, 3)),
        SNConv2D(8, 3, strides=2, padding="same", sn_mode="BSN"),
        keras.layers.LeakyReLU(0.1),
        keras.layers.Flatten(),
        SNDense(1, sn_mode="BSN"),
    ])
    model = BSNGAN(generator, discriminator)
    model.compile(d_optimizer=keras.optimizers.Adam(2e-4, 0.5),
                  g_optimizer=keras.optimizers.Adam(2e-4, 0.5), loss="hinge")
    images = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype("float32")
    logs = model.fit(tf.data.Dataset.from_tensor_slices(images).batch(8), epochs=1, verbose=0)
    assert logs.history and all(np.isfinite(v[-1]) for v in logs.history.values()), logs.history
"""


def test_the_public_api_trains_a_tiny_gan_with_fit_in_the_venv(installed):
    installed.python_code(EXAMPLE)


def test_a_keras_file_saved_in_the_venv_loads_in_a_fresh_process_with_identical_outputs(
    installed, tmp_path
):
    files = [str(tmp_path / n) for n in ("model.keras", "x.npy", "y.npy")]
    _check(_run([installed.python, "-c", textwrap.dedent(SAVE), *files], cwd=str(tmp_path)))
    _check(_run([installed.python, "-c", textwrap.dedent(LOAD), *files], cwd=str(tmp_path)))
