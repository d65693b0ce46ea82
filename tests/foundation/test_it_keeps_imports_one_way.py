"""Imports run one way: no module of an app reaches back, through any chain, to a module that imports it, and core/ is
the floor the apps stand on (it imports none of them; what looks at all three, the study dashboard, lives in config/).

Lazy imports (inside a function) count: they still make a circle, one that only bites when that function runs."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("annotation", "evaluation", "generation")


def modules_of(package: str) -> dict[str, Path]:
    """Dotted name -> file, for every module of a package outside its migrations (a package is its __init__.py)."""
    found: dict[str, Path] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" not in parts:
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path) -> Iterator[str]:
    """Each dotted name a module imports, relative imports made absolute; `from x import y, z` gives x.y and x.z."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            base_name = ".".join(base + ([node.module] if node.module else []))
            yield from (f"{base_name}.{alias.name}" for alias in node.names)


def import_graph(*packages: str) -> dict[str, set[str]]:
    """Module -> the modules of these packages it imports. `from pkg import thing` points at pkg.thing when that is a
    module, else at pkg (the longest module name the import starts with)."""
    files: dict[str, Path] = {}
    for package in packages:
        files |= modules_of(package)

    def module_named(dotted: str) -> str:
        while dotted and dotted not in files:
            dotted = dotted.rpartition(".")[0]
        return dotted

    return {name: {module_named(d) for d in imports_of(name, path)} - {"", name} for name, path in files.items()}


def a_circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle (its modules in order, the first repeated at the end), or [] when the graph has none."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once every path from it was walked
    path: list[str] = []

    def walk(module: str) -> list[str]:
        state[module], _ = "open", path.append(module)
        for nxt in sorted(graph[module]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (circle := walk(nxt)):
                return circle
        state[module], _ = "done", path.pop()
        return []

    for module in sorted(graph):
        if module not in state and (circle := walk(module)):
            return circle
    return []


def test_the_circle_finder_finds_a_circle():
    assert a_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert a_circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_sees_relative_and_lazy_imports():
    graph = import_graph("generation")
    assert "generation.models" in graph["generation.services.jobs"]  # from ..models import ...
    assert "generation.attention" in graph["generation.services.pools"]  # from .. import attention, in a function
    assert "generation.services" in graph["generation.tasks"]  # from . import services


# evaluation joins the list once evaluation/models.py stops reaching back to evaluation/hypothesis.py (a lazy import).
@pytest.mark.parametrize("package", ["generation", "annotation", "core", "config", "creative_core"])
def test_no_module_imports_itself_through_a_circle(package):
    circle = a_circle(import_graph(package))
    assert circle == [], f"import circle: {' -> '.join(circle)}"


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module an import of `start` may load, through any chain."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        todo.extend(new := graph[todo.pop()] - seen)
        seen |= new
    return seen


def test_core_imports_none_of_the_apps():
    """Not even through config/ (core leans on its roles and admin base): core must load without the apps."""
    graph = import_graph("core", "config", *APPS)
    reaching_up = {name: sorted(m for m in reachable(graph, name) if m.split(".")[0] in APPS)
                   for name in graph if name.split(".")[0] == "core"}
    assert {name: up for name, up in reaching_up.items() if up} == {}, "core/ is the floor: move what needs the apps up"
