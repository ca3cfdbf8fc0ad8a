"""The README's walk-through runs as printed: every ``$ graphspec ...`` command in it is
executed in order in a scratch folder, on the spec the section shows, and its output is
compared with the output printed under it.

Lines that report measured time or learnt accuracy (bench's ``ok:`` line, val's numbers)
are compared by their words only (and without bench's "timing noisy" flag), since they
move with the machine; ``...`` in the README
stands for lines left out. The job folder's name (a hash of spec and settings) must be
the one the README names.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graphspec.cli import main
from tests import REPO

NUMBER = re.compile(r"\d+(\.\d+)?")

pytestmark = pytest.mark.usefixtures("one_thread")


def _section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"## {title}\n")
    return text[start : text.find("\n## ", start + 1)]


def _sessions(section: str) -> list[tuple[list[str], list[str]]]:
    """(argv, expected output lines) of each ``$ graphspec`` command in console blocks."""
    commands: list[tuple[list[str], list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", section, flags=re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ "):
                commands.append((shlex.split(line[2:]), []))
            else:
                commands[-1][1].append(line)
    return commands


def _matches(expected: list[str], got: list[str], *, loose_numbers: bool) -> bool:
    """``got`` holds ``expected`` in order; ``...`` skips any lines."""

    def same(a: str, b: str) -> bool:
        if not loose_numbers:
            return a == b
        # numbers move with the machine, and so does whether the timing was noisy
        return _words(a) == _words(b)

    position = 0
    for line in expected:
        if line == "...":
            continue
        while position < len(got) and not same(line, got[position]):
            position += 1
        if position == len(got):
            return False
        position += 1
    return True


def _words(line: str) -> str:
    return NUMBER.sub("#", line.removesuffix(", timing noisy"))


def _run(argv: list[str]) -> list[str]:
    """Standard output and error interleaved, as a terminal shows them."""
    terminal = io.StringIO()
    with contextlib.redirect_stdout(terminal), contextlib.redirect_stderr(terminal):
        assert main(argv[1:]) == 0, terminal.getvalue()
    return terminal.getvalue().splitlines()


def test_walkthrough_runs_as_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    section = _section("Walk-through")
    (spec,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    monkeypatch.chdir(tmp_path)
    Path("my-segnet.yaml").write_text(spec)
    Path("photos").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save("photos/street.jpg")
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save("photos/tile.png")
    sessions = _sessions(section)
    assert [argv[:2] for argv, _ in sessions if argv[0] == "graphspec"] == [
        ["graphspec", c]
        for c in ("check", "summary", "compile", "bench", "report", "predict", "val")
    ]
    for argv, expected in sessions:
        if argv[0] == "ls":
            for folder in argv[1:]:
                assert Path(folder).is_dir(), folder  # the job's name is the README's
            listed = " ".join(line for line in expected if line and not line.endswith(":"))
            assert sorted(listed.split()) == sorted(
                p.name
                for folder in argv[1:]
                for p in Path(folder).iterdir()
                if not p.name.startswith(".")
            )
            continue
        got = _run(argv)
        loose = argv[1] in ("bench", "val")
        assert _matches(expected, got, loose_numbers=loose), (argv, got)
    assert Image.open("preds/street_mask.png").size == (160, 120)  # the image's own size
