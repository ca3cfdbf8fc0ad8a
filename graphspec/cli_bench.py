"""CLI commands of the benchmark harness: ``bench``, ``report``, ``demo``."""

from __future__ import annotations

import argparse


def add_bench_commands(sub: argparse._SubParsersAction) -> None:
    pass


def describe_error(exc: BaseException) -> str | None:
    """A one-line message for known user-facing errors (bad data, bad options)."""
    return None
