"""An exception no check anticipated is still one line from the CLI (exit 1), naming the
exception; ``GRAPHSPEC_DEBUG=1`` lets it through with its traceback for a bug report."""

from __future__ import annotations

from pathlib import Path

import pytest

import graphspec.cli.check
from graphspec.cli import main
from tests import REPO

SPEC = REPO / "specs" / "tiny-encoder.yaml"


def _boom(path: Path) -> None:
    raise IndexError("tuple index out of range")


def test_unexpected_exception_is_one_line(monkeypatch, capsys) -> None:
    monkeypatch.delenv("GRAPHSPEC_DEBUG", raising=False)
    monkeypatch.setattr(graphspec.cli.check, "check_file", _boom)
    assert main(["check", str(SPEC)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: internal error (IndexError: tuple index out of range)")


def test_debug_variable_shows_the_traceback(monkeypatch) -> None:
    monkeypatch.setenv("GRAPHSPEC_DEBUG", "1")
    monkeypatch.setattr(graphspec.cli.check, "check_file", _boom)
    with pytest.raises(IndexError):
        main(["check", str(SPEC)])
