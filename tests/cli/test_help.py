"""Every subcommand's ``--help``: examples epilog, defaults shown, no "(default: None)"."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from graphspec.cli import build_parser, main
from graphspec.cli.options import HelpFormatter, Parser, add_command
from tests import REPO

ROOT = REPO
COMMANDS = ("check", "summary", "schema", "compile", "bench", "report", "demo", "predict", "val")


def _help(capsys: pytest.CaptureFixture[str], command: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _examples(text: str) -> list[str]:
    """The lines after ``examples:``, without their two-space indent."""
    return [line[2:] for line in text.split("examples:\n", 1)[1].splitlines() if line]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    text = _help(capsys, command)
    assert "\nexamples:\n" in text
    lines = text.splitlines()
    assert any(line.startswith(f"  graphspec {command}") for line in lines)
    assert 2 <= len(_examples(text)) <= 4
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.parametrize("command", COMMANDS)
def test_examples_parse_and_name_existing_specs(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Each example is a valid command line (up to a shell redirect) and every spec it
    names is in specs/, so copying one never fails on the arguments."""
    for example in _examples(_help(capsys, command)):
        assert len(example) + 2 <= 80, example
        argv = shlex.split(example, comments=True)
        argv = argv[: argv.index(">")] if ">" in argv else argv
        assert argv[:2] == ["graphspec", command]
        build_parser().parse_args(argv[1:])
        for spec in (a for a in argv if a.startswith("specs/") and a.endswith(".yaml")):
            assert (ROOT / spec).is_file(), spec


@pytest.mark.parametrize(
    ("command", "epochs", "lr"), [("bench", 10, "0.002"), ("demo", 30, "0.003")]
)
def test_run_defaults_are_shown(
    capsys: pytest.CaptureFixture[str], command: str, epochs: int, lr: str
) -> None:
    flat = " ".join(_help(capsys, command).split())  # argparse wraps help at the terminal width
    assert re.search(rf"--epochs EPOCHS .*?\(default: {epochs}\)", flat)
    assert re.search(rf"--lr LR .*?\(default: {lr}\)", flat)
    assert "(default: 16)" in flat  # --batch-size
    assert "default 16" not in flat and f"default {epochs}" not in flat  # no hand-written copy


def test_demo_out_default_is_shown_once(capsys: pytest.CaptureFixture[str]) -> None:
    flat = " ".join(_help(capsys, "demo").split())
    assert "--out OUT run directory (default: runs/demo)" in flat
    assert "default runs/demo" not in flat  # the hand-written copy is gone


def test_add_command_for_new_commands(capsys: pytest.CaptureFixture[str]) -> None:
    parser = Parser(prog="graphspec")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    p = add_command(
        sub,
        "predict",
        help="run a spec",
        description="First paragraph, long enough " + "word " * 20 + "\n\nSecond.",
        examples=["graphspec predict specs/unet-small.yaml"],
    )
    assert p.formatter_class is HelpFormatter
    p.add_argument("--size", type=int, default=64, help="image size")
    p.add_argument("--out", default=None, help="folder (default: beside the spec)")
    p.add_argument("--fast", action="store_true", help="skip checks")
    p.add_argument("--seed", type=int, default=0, help="seed")
    p.add_argument("--mode", default="a", help="a or b (here: %(default)s)")
    text = p.format_help()
    assert "image size (default: 64)" in text
    assert "seed (default: 0)" in text  # 0 is a real default, unlike None and False
    assert "(default: beside the spec)" in text and "None" not in text and "False" not in text
    assert "a or b (here: a)\n" in text
    assert text.endswith("examples:\n  graphspec predict specs/unet-small.yaml\n")
    description = text.split("\n\n")[1:3]
    assert max(len(line) for line in description[0].splitlines()) <= 78
    assert description[1] == "Second."


@pytest.mark.parametrize("examples", [[], ["graphspec check specs/"]])
def test_add_command_rejects_examples_of_another_command(examples: list[str]) -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    with pytest.raises(ValueError, match="examples of 'val': expected lines starting with"):
        add_command(sub, "val", help="h", description="d", examples=examples)
