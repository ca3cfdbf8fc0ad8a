"""The design rules of docs/architecture.md, enforced.

Import rules (every import counts, lazy ones inside functions included): the spec
language never imports the compiler, the harness or the CLI; the compiler never imports
the harness or the CLI; the harness never imports the CLI. Inside the harness each room
imports only the rooms below it (``ROOMS``), and no module of the project takes part in
an import cycle. And the size rules of the style guide: source files of at most 300
lines, functions of at most 60.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("graphspec", "compiler", "benchmarks")
CLI = "graphspec.cli"
FORBIDDEN = {
    "graphspec": ("compiler", "benchmarks", CLI),
    "compiler": ("benchmarks", CLI),
    "benchmarks": (CLI,),
}
ROOMS: dict[str, frozenset[str]] = {
    "runtime": frozenset(),
    "data": frozenset({"runtime"}),
    "metrics": frozenset({"runtime"}),
    "figures": frozenset({"runtime"}),
    "tasks": frozenset({"data", "metrics", "figures", "runtime"}),
    "train": frozenset({"tasks", "data", "metrics", "runtime"}),
    "cost": frozenset({"runtime"}),
    "store": frozenset({"train", "tasks", "metrics", "runtime"}),
    "job": frozenset({"store", "cost", "train", "tasks", "data", "metrics", "figures", "runtime"}),
    "inference": frozenset({"store", "train", "tasks", "data", "metrics", "figures", "runtime"}),
    "report": frozenset({"store", "tasks", "figures", "metrics", "runtime"}),
    "sweep": frozenset({"job", "report", "store", "runtime"}),
    "search": frozenset({"sweep", "report", "store", "tasks", "figures", "runtime"}),
}
"""What each room of ``benchmarks/`` may import (docs/architecture.md, "Harness rooms");
``tools`` may import every room and no room imports it. ``job``, ``inference`` and
``report`` never import each other, nor do ``train`` and ``cost``."""
TOOLS = "tools"


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(path: Path) -> str:
    """The package a file belongs to for the rules; the CLI is a layer of its own."""
    module = _module(path)
    return "cli" if module == CLI or module.startswith(CLI + ".") else module.split(".")[0]


def _room(module: str) -> str | None:
    """The harness room of a module (``benchmarks.store.read`` -> ``store``); None for the
    package face and for modules outside the harness."""
    parts = module.split(".")
    return parts[1] if parts[0] == "benchmarks" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _breaks(module: str, forbidden: str) -> bool:
    return module == forbidden or module.startswith(forbidden + ".")


def _room_breaks(path: Path) -> list[str]:
    """Imports from ``path`` into a harness room it may not import."""
    own = _room(_module(path))
    if own is None:
        return []
    bad = []
    for line, module in _imports(path):
        target = _room(module)
        if module == "benchmarks":  # the face re-exports from rooms above every room
            bad.append(f"{path.relative_to(ROOT)}:{line} imports the package face")
        elif target is None or target == own or own == TOOLS:
            continue
        elif target == TOOLS or target not in ROOMS.get(own, frozenset()):
            bad.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {module} ({target})")
    return bad


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_import_rules(path: Path) -> None:
    layer = _layer(path)
    if layer == "cli":
        return  # the CLI may see everything
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for line, module in _imports(path)
        for forbidden in FORBIDDEN[layer]
        if _breaks(module, forbidden)
    ]
    assert not bad + _room_breaks(path), "\n".join(bad + _room_breaks(path))


def test_every_room_is_declared() -> None:
    """A new folder under benchmarks/ needs its place in the order before it can be used."""
    folders = {p.name for p in (ROOT / "benchmarks").iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(ROOMS) | {TOOLS}


def test_nothing_is_left_on_the_harness_floor() -> None:
    """Only the package face sits directly in benchmarks/."""
    assert sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")) == ["__init__.py"]


def _targets(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports, lazy and type-checking imports included:
    ``from pkg import mod`` is the submodule, ``from mod import name`` the module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    resolved = set()
    for target in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        resolved.add(target)
    return resolved - {""}


def _import_graph() -> nx.DiGraph:
    """Module -> the project modules it imports."""
    modules = {_module(path): path for path in _sources()}
    graph = nx.DiGraph()
    for module, path in modules.items():
        graph.add_node(module)
        graph.add_edges_from((module, t) for t in _targets(path, set(modules)) if t != module)
    return graph


def test_no_import_cycle() -> None:
    cycles = list(nx.simple_cycles(_import_graph()))
    shown = [" -> ".join([*cycle, cycle[0]]) for cycle in sorted(cycles, key=len)[:5]]
    assert not cycles, "\n".join(shown)


def test_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker sees lazy imports and from-imports of a forbidden package."""
    bad = tmp_path / "x.py"
    bad.write_text(
        "def f():\n    from benchmarks.sweep import run_sweep\n    import graphspec.cli\n"
    )
    modules = [m for _, m in _imports(bad)]
    assert any(_breaks(m, "benchmarks") for m in modules)
    assert any(_breaks(m, CLI) for m in modules)


def test_room_rules_catch_an_upward_import(tmp_path: Path, monkeypatch) -> None:
    """A store module importing the report (a room above it) is named, lazily or not."""
    fake = tmp_path / "benchmarks" / "store" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from benchmarks.report.write import write_report\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert _room_breaks(fake)[0] == (
        "benchmarks/store/x.py:2 (store) imports benchmarks.report.write (report)"
    )


def test_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch) -> None:
    for name, target in (("a", "b"), ("b", "a")):
        (tmp_path / "compiler").mkdir(exist_ok=True)
        (tmp_path / "compiler" / f"{name}.py").write_text(f"from compiler.{target} import x\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PACKAGES", ("compiler",))
    assert list(nx.simple_cycles(_import_graph()))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_sizes(path: Path) -> None:
    text = path.read_text()
    assert text.count("\n") <= 300, f"{path.relative_to(ROOT)} has {text.count(chr(10))} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > 60  # type: ignore[operator]
    ]
    assert not long, f"{path.relative_to(ROOT)}: {', '.join(long)}"
