"""No module of ``gan/`` imports itself through others (docs/architecture.md: no import cycles).

Every import statement counts, function-local ones included (only those under
``if TYPE_CHECKING:`` never run and are left out). Relative imports are resolved, ``from gan
import x`` names the submodule ``gan.x`` (and the package ``gan`` only when it also takes a name
that is no submodule), and importing ``a.b.c`` from outside the package ``a.b`` also runs
``a.b``'s ``__init__``; a module inside a package never runs that package's ``__init__`` (it
ran first).
"""

from __future__ import annotations

import ast
import os

from gan.config import REPO_ROOT

PACKAGE = "gan"


def module_files() -> dict[str, str]:
    """Module name -> file, for every module of the package."""
    found = {}
    for folder, dirs, names in os.walk(os.path.join(REPO_ROOT, PACKAGE)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), REPO_ROOT)[:-3]
                parts = rel.split(os.sep)
                if parts[-1] == "__init__":
                    parts.pop()
                found[".".join(parts)] = os.path.join(folder, name)
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST, typing_too: bool = False) -> list[ast.Import | ast.ImportFrom]:
    out = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node) and not typing_too:
            out += [n for child in node.orelse for n in _import_nodes(child)]
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        out += _import_nodes(node, typing_too)
    return out


def imports_of(module: str, path: str, modules: set[str], typing_too: bool = False) -> set[str]:
    """The package's modules that ``module`` (its file ``path``) imports (with ``typing_too``,
    also those imported under ``if TYPE_CHECKING:`` for annotations only)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    targets = set()
    for node in _import_nodes(tree, typing_too):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
        if len(submodules) < len(node.names):
            targets.add(base)  # a name defined in the package itself
        targets.update(submodules)
    edges = set()
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):  # the packages on the way run their __init__
            name = ".".join(parts[:i])
            inside = module == name or module.startswith(name + ".")
            if name in modules and name != module and (i == len(parts) or not inside):
                edges.add(name)
    return edges


def import_graph(typing_too: bool = False) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (see ``imports_of``)."""
    files = module_files()
    return {m: imports_of(m, path, set(files), typing_too) for m, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_not_even_the_annotations_import_in_a_cycle():
    # A module that imports another only to annotate still depends on it (a reader, a type
    # checker, the project's import picture): no cycle there either.
    cycle = find_cycle(import_graph(typing_too=True))
    assert cycle is None, "import cycle through TYPE_CHECKING imports: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle_through_a_function_local_import(tmp_path):
    (tmp_path / "a.py").write_text("import os\nfrom . import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from .c import g\n")
    (tmp_path / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from gan.d import x\nfrom gan import a, version\n"
    )
    (tmp_path / "d.py").write_text("from gan import c\n")
    modules = {"gan", "gan.a", "gan.b", "gan.c", "gan.d"}
    graph = {f"gan.{n}": imports_of(f"gan.{n}", str(tmp_path / f"{n}.py"), modules) for n in "abcd"}
    assert graph["gan.c"] == {"gan", "gan.a"}  # not gan.d: under TYPE_CHECKING
    assert imports_of("gan.c", str(tmp_path / "c.py"), modules, typing_too=True) == {
        "gan",
        "gan.a",
        "gan.d",
    }
    assert graph["gan.d"] == {"gan.c"}  # a submodule named from its package
    assert find_cycle(graph) == ["gan.a", "gan.b", "gan.c", "gan.a"]


def test_a_function_local_import_says_it_keeps_tensorflow_out():
    unexplained = []
    for module, path in sorted(module_files().items()):
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                # the comment sits on the import's line or the three lines above it
                if isinstance(node, (ast.Import, ast.ImportFrom)) and not any(
                    "TensorFlow" in line for line in lines[max(0, node.lineno - 4) : node.lineno]
                ):
                    unexplained.append(f"{module}:{node.lineno}")
    assert not unexplained, f"function-local imports without a TensorFlow reason: {unexplained}"
