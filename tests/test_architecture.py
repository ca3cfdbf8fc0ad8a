"""The design rules of docs/architecture.md, enforced.

Import rules (every import counts, lazy ones inside functions included): the spec
language never imports the compiler, the harness or the CLI; the compiler never imports
the harness or the CLI; the harness never imports the CLI. And the size rules of the
style guide: source files of at most 300 lines, functions of at most 60.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("graphspec", "compiler", "benchmarks")
CLI = "graphspec.cli"
FORBIDDEN = {
    "graphspec": ("compiler", "benchmarks", CLI),
    "compiler": ("benchmarks", CLI),
    "benchmarks": (CLI,),
}


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _layer(path: Path) -> str:
    """The package a file belongs to for the rules; the CLI is a layer of its own."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return "cli" if module == CLI or module.startswith(CLI + ".") else module.split(".")[0]


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
    assert not bad, "\n".join(bad)


def test_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker sees lazy imports and from-imports of a forbidden package."""
    bad = tmp_path / "x.py"
    bad.write_text(
        "def f():\n    from benchmarks.sweep import run_sweep\n    import graphspec.cli\n"
    )
    modules = [m for _, m in _imports(bad)]
    assert any(_breaks(m, "benchmarks") for m in modules)
    assert any(_breaks(m, CLI) for m in modules)


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
