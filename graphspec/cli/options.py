"""Argument parsing shared by the commands: the parser class and argparse value types."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from graphspec.cli.errors import EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with EXIT_USAGE and no traceback."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


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


def positive(text: str) -> int:
    """An integer of at least 1 (epochs, batch size, image limit)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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
