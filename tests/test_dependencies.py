"""Every third-party module the project imports is installed by the README's commands.

The README's two commands install ``requirements.txt`` (the quickstart) and
``requirements-test.txt`` (the tests: it includes ``requirements.txt``). A module imported
anywhere in the project's code, tests or benchmarks must come from a distribution pinned in
one of them, so a new import without a requirement fails here, where it is introduced, instead
of on a new user's machine.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import sys
from collections.abc import Iterable

from gan.config import REPO_ROOT

SOURCES = ("gan", "datasets", "tasks", "tests", "benchmarks", "main.py")
RUNTIME_SOURCES = ("gan", "datasets", "tasks", "main.py")
DYNAMIC_IMPORTERS = {"import_module", "find_spec", "__import__"}
# Keras backends other than TensorFlow -> the one runtime module that imports each.
# Another backend is imported only by the core's steps for it (gan/bsn/steps/jax*.py, torch.py).
OTHER_BACKENDS = {"jax": "gan/bsn/steps/jax", "torch": "gan/bsn/steps/torch.py"}
# Imported only by benchmarks, inside the function that needs it (the script and its tests run
# without it), and pinned by benchmarks/requirements.txt instead: module -> distribution.
BENCHMARK_ONLY = {"sklearn": "scikit-learn"}


def python_files(roots: Iterable[str]) -> list[str]:
    """The ``.py`` files under ``roots`` (paths relative to the repository root)."""
    files = []
    for root in roots:
        path = os.path.join(REPO_ROOT, root)
        if os.path.isfile(path):
            files.append(path)
            continue
        for folder, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            files += [os.path.join(folder, n) for n in names if n.endswith(".py")]
    return sorted(files)


def imported_modules(source: str) -> set[str]:
    """Top-level names of the modules ``source`` imports: import statements (also inside
    functions) and string arguments of ``importlib.import_module``/``find_spec``."""
    tree = ast.parse(source)
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if called in DYNAMIC_IMPORTERS:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names.add(arg.value)
                elif isinstance(arg, ast.Name) and arg.id in constants:
                    names.add(constants[arg.id])
    return {name.split(".")[0] for name in names}


def third_party_imports(roots: Iterable[str]) -> dict[str, list[str]]:
    """Top-level third-party module -> the files importing it (not stdlib, not the project)."""
    local = {
        os.path.splitext(n)[0]
        for n in os.listdir(REPO_ROOT)
        if n.endswith(".py") or os.path.isdir(os.path.join(REPO_ROOT, n))
    }
    found: dict[str, list[str]] = {}
    for path in python_files(roots):
        with open(path, encoding="utf-8") as f:
            modules = imported_modules(f.read())
        for module in modules - local - set(sys.stdlib_module_names) - {"__future__"}:
            found.setdefault(module, []).append(os.path.relpath(path, REPO_ROOT))
    return found


def canonical(name: str) -> str:
    """A distribution name in PEP 503 normal form."""
    return re.sub(r"[-_.]+", "-", name).lower()


def required_distributions(path: str) -> set[str]:
    """The distributions a requirements file pins, following ``-r`` includes."""
    names = set()
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith(("-r ", "--requirement ")):
                included = line.split(None, 1)[1]
                names |= required_distributions(os.path.join(os.path.dirname(path), included))
                continue
            names.add(canonical(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0]))
    return names


def missing_requirements(
    imports: dict[str, list[str]], required: set[str], providers: dict[str, list[str]]
) -> list[str]:
    """One message per imported module that no required distribution provides."""
    problems = []
    for module, files in sorted(imports.items()):
        dists = {canonical(d) for d in providers.get(module, [])}
        if not dists:
            problems.append(
                f"{module} (imported by {', '.join(files[:3])}) is not provided "
                "by any installed distribution"
            )
        elif not dists & required:
            problems.append(
                f"{module} (imported by {', '.join(files[:3])}) comes from "
                f"{', '.join(sorted(dists))}, which the requirements do not pin"
            )
    return problems


def unpinned(path: str) -> list[str]:
    """Requirement lines of ``path`` (not following includes) that are not pinned with ==."""
    with open(path) as f:
        lines = [line.split("#", 1)[0].strip() for line in f]
    return [line for line in lines if line and not line.startswith("-") and "==" not in line]


def test_every_imported_module_is_pinned_by_the_readme_commands():
    required = required_distributions(os.path.join(REPO_ROOT, "requirements-test.txt"))
    imports = third_party_imports(SOURCES)
    for module in BENCHMARK_ONLY:
        imports.pop(module, None)
    problems = missing_requirements(imports, required, importlib.metadata.packages_distributions())
    assert not problems, "\n".join(problems)


def test_what_only_a_benchmark_imports_is_pinned_for_the_benchmarks_and_imported_late():
    benchmarks = os.path.join(REPO_ROOT, "benchmarks", "requirements.txt")
    assert required_distributions(benchmarks) >= required_distributions(
        os.path.join(REPO_ROOT, "requirements-test.txt")
    ) | set(BENCHMARK_ONLY.values())
    assert not unpinned(benchmarks)
    imports = third_party_imports(SOURCES)
    for module in BENCHMARK_ONLY:
        assert all(f.startswith("benchmarks" + os.sep) for f in imports.get(module, [])), module
        for path in python_files(["benchmarks"]):
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            outside_functions = [
                node
                for node in tree.body
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            ]
            at_top = imported_modules(ast.unparse(ast.Module(outside_functions, [])))
            assert module not in at_top, f"{path} imports {module} at module level"


def test_the_runtime_needs_nothing_from_the_test_requirements():
    """Only the library core's step of another backend imports that backend (jax, torch: the
    pyproject extras; requirements-test.txt pins them for the tests)."""
    runtime = required_distributions(os.path.join(REPO_ROOT, "requirements.txt"))
    imports = third_party_imports(RUNTIME_SOURCES)
    for module, home in OTHER_BACKENDS.items():
        files = imports.pop(module, [home])
        assert all(f.startswith(home) for f in files), (module, files)
    problems = missing_requirements(imports, runtime, importlib.metadata.packages_distributions())
    assert not problems, "\n".join(problems)


def test_every_requirement_is_pinned():
    for name in ("requirements.txt", "requirements-test.txt"):
        assert unpinned(os.path.join(REPO_ROOT, name)) == [], name


def test_the_check_catches_an_import_without_a_requirement():
    source = (
        "import numpy\nimport scipy.linalg\nfrom PIL import Image\nimport os\n"
        "import importlib\nNAME = 'somepkg.sub'\nimportlib.import_module(NAME)\n"
        "def f():\n    import lazy_one\n"
    )
    assert imported_modules(source) == {
        "numpy",
        "scipy",
        "PIL",
        "os",
        "importlib",
        "somepkg",
        "lazy_one",
    }
    providers = {"numpy": ["numpy"], "scipy": ["scipy"], "PIL": ["Pillow"]}
    imports = {"numpy": ["a.py"], "scipy": ["tests/b.py"], "PIL": ["c.py"], "ghost": ["d.py"]}
    problems = missing_requirements(imports, {"numpy", "pillow"}, providers)
    assert len(problems) == 2
    assert problems[0].startswith("ghost (imported by d.py) is not provided")
    assert problems[1].startswith("scipy (imported by tests/b.py) comes from scipy")


def test_the_ci_script_runs_the_readme_test_command_in_a_fresh_environment():
    with open(os.path.join(REPO_ROOT, "README.md")) as f:
        readme = f.read()
    with open(os.path.join(REPO_ROOT, ".ci", "run")) as f:
        ci = f.read()
    command = "python -m pip install -r requirements-test.txt && python -m pytest -q"
    assert command in readme
    assert ci.rstrip().endswith(command)
    assert "python3 -m venv --clear" in ci
