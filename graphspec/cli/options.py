"""Argument parsing shared by the commands: the parser class, the help conventions every
subcommand follows (:func:`add_command`), and argparse value types."""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Sequence
from typing import NoReturn

from graphspec.cli.errors import EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with EXIT_USAGE: one line, no traceback,
    and no usage block (a wrong value is easier to spot alone; ``--help`` has the rest)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's and epilog's line breaks (the examples stay one per line) and
    appends ``(default: X)`` to an option's help, so the value shown is the one argparse
    uses and never a hand-written copy that can drift.

    Options without a meaningful default are left alone: ``None`` (their help says what
    happens instead, e.g. "default: the spec's input size") and ``False`` of a flag, which
    would only add "(default: None)" / "(default: False)" noise. Help that names
    ``%(default)s`` itself is left as written.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


DESCRIPTION_WIDTH = 78
"""Column the descriptions are wrapped at; :class:`HelpFormatter` keeps text as given."""


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    *,
    help: str,
    description: str,
    examples: Sequence[str],
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` with the conventions of every graphspec command: defaults
    shown in ``--help`` and an ``examples:`` epilog, one command line per example.

    ``description`` is wrapped here into paragraphs (split at blank lines), because the
    raw formatter the examples need would print it as one long line. Each example must
    start with ``graphspec NAME`` so that it can be copied as is; a trailing ``# why``
    comment is fine.
    """
    wrong = [e for e in examples if not e.startswith(f"graphspec {name}")]
    if not examples or wrong:
        raise ValueError(
            f"examples of {name!r}: expected lines starting with 'graphspec {name}', "
            f"got {wrong or 'none'}"
        )
    paragraphs = [
        textwrap.fill(" ".join(p.split()), DESCRIPTION_WIDTH, break_on_hyphens=False)
        for p in description.split("\n\n")
    ]
    return sub.add_parser(
        name,
        help=help,
        description="\n\n".join(paragraphs),
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=HelpFormatter,
    )


def add_format_option(
    p: argparse.ArgumentParser,
    what: str,
    *,
    extra: Sequence[str] = (),
    json_alias: bool = False,
) -> None:
    """``--format text|json`` (plus ``extra`` choices), the one way every command that prints
    results is asked for JSON; ``what`` says what the JSON holds. ``json_alias`` keeps the
    older ``--json`` of a command working, hidden from ``--help``."""
    p.add_argument(
        "--format",
        choices=("text", "json", *extra),
        default="text",
        help=f"json: {what}",
    )
    if json_alias:
        p.add_argument(
            "--json", dest="format", action="store_const", const="json", help=argparse.SUPPRESS
        )


def image_size(text: str) -> tuple[int, int]:
    """``SIZE`` or ``HxW`` (e.g. ``64`` or ``96x128``) -> (height, width)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected SIZE or HxW, e.g. 64 or 96x128, got {text!r}")
    return parts[0], parts[1]


def _integer_at_least(text: str, low: int, expected: str) -> int:
    """An integer from ``low`` to ``sys.maxsize`` (larger counts overflow the C code under
    the data loaders: an error that names nothing the user typed)."""
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= sys.maxsize:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive(text: str) -> int:
    """An integer of at least 1 (epochs, batch size, image limit)."""
    return _integer_at_least(text, 1, "a positive integer")


def non_negative(text: str) -> int:
    """An integer of at least 0 (DataLoader workers)."""
    return _integer_at_least(text, 0, "an integer of at least 0")


_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def device_name(text: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (whether it exists is checked later)."""
    name = text.strip().lower()
    if not _DEVICE_RE.match(name):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}")
    return name


def learning_rate(text: str) -> float | str:
    """A finite positive learning rate, or ``auto`` (a range test per spec)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(
            f"expected a positive number or 'auto', e.g. 1e-3, got {text!r}"
        )
    return value
