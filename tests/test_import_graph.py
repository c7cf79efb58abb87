"""The package's import graph is a DAG — counting deferred (function-level) imports too, so no deferred
import can be hiding a cycle — and the library below the CLI never imports the CLI."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "attnsr"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Project modules named by one ``from ... import ...`` (a name may itself be a submodule)."""
    if node.level:
        base = current.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    # the package itself is imported from when some name is not a submodule (``from . import models`` only
    # needs the package as the parent it already is; ``from .. import create_model`` reads its __init__)
    takes_from_package = len(found) < len(node.names)
    return found + ([target] if target in MODULES and takes_from_package else [])


def imports_of(name: str) -> set[str]:
    path = MODULES[name]
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            deps.update(_resolve(name, path.name == "__init__.py", node))
        elif isinstance(node, ast.Import):
            deps.update(a.name for a in node.names if a.name in MODULES)
    # Importing a.b.c runs a/__init__ and a/b/__init__ first, so those are implicit dependencies — except the
    # module's own parent packages, which Python runs before the module itself (a package's __init__
    # importing its submodules is how it exposes them). An *explicit* import of a parent package (``from ..
    # import x``) stays an edge, so a submodule reaching back into its package's __init__ shows as a cycle.
    implicit = {parent for dep in deps for parent in _parents(dep)} - set(_parents(name))
    return (implicit | deps) - {name}


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in MODULES]


def test_graph_is_found():
    graph = {name: imports_of(name) for name in MODULES}
    assert "attnsr._pretrained" in graph["attnsr._factory"]
    assert "attnsr.registry" in graph["attnsr.models.a2n"]
    assert len(MODULES) > 40


def test_import_graph_is_a_dag_with_deferred_imports_counted():
    graph = {name: imports_of(name) for name in MODULES}
    sorter = graphlib.TopologicalSorter(graph)
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert set(order) == set(MODULES)


def test_library_never_imports_the_cli():
    for name in MODULES:
        if name.startswith("attnsr.cli") or name == "attnsr.__main__":
            continue
        assert not {d for d in imports_of(name) if d.startswith("attnsr.cli")}, name
