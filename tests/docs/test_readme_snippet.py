"""The README's "Python API" example runs as printed, from the repository root."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from tests import REPO


def _section_code(markdown: str, title: str) -> list[str]:
    """The ```python blocks between the ``## title`` heading and the next ``## `` heading."""
    start = markdown.index(f"## {title}\n")
    end = markdown.find("\n## ", start + 1)
    section = markdown[start : end if end != -1 else len(markdown)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_python_api_section_has_one_block() -> None:
    assert len(_section_code((REPO / "README.md").read_text(), "Python API")) == 1


def test_python_api_snippet_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    (code,) = _section_code((REPO / "README.md").read_text(), "Python API")
    monkeypatch.chdir(REPO)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md:Python API", "exec"), {"__name__": "readme"})
    # segnet-small: 4 classes at 64x64 (specs/segnet-small.yaml), batch of 2.
    assert printed.getvalue().splitlines()[0] == "torch.Size([2, 4, 64, 64])"
