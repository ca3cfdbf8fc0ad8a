"""The ``graphspec`` command line: check, summary, schema, compile, bench, report, demo,
predict, val.

The CLI parses arguments and formats output; the work is done by the spec language
(:mod:`graphspec`), the compiler and the harness (:mod:`benchmarks`). It is the only
package that sees all three, and imports the latter two lazily so ``graphspec check`` stays
quick. Bad input never shows a traceback: spec problems print as
``file:line:col: key: message`` and set the exit code (:mod:`graphspec.cli.errors`).

Every command follows one convention: ``--format text|json`` where it prints results
(``check`` adds ``github``), and exit code 0 ok, 1 failed or invalid, 2 a wrong command line
or a missing input (:class:`~graphspec.cli.errors.UsageError`, checked before any work
starts: :mod:`graphspec.cli.inputs`); Ctrl-C
and SIGTERM both stop a command with exit code 130 and no temp file left.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from graphspec.cli.bench import add_bench_command, add_demo_command
from graphspec.cli.check import add_check_command
from graphspec.cli.compile import add_compile_command
from graphspec.cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    describe_error,
    describe_os_error,
    internal_error,
    one_line_warnings,
    sigterm_as_interrupt,
)
from graphspec.cli.options import Parser
from graphspec.cli.predict import add_predict_command
from graphspec.cli.report import add_report_command
from graphspec.cli.search import add_search_command
from graphspec.cli.show import add_show_commands
from graphspec.cli.val import add_val_command
from graphspec.errors import SpecError

__all__ = ["build_parser", "main", "package_version"]

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def package_version() -> str:
    """The installed distribution's version; from a source checkout that was never
    installed, the ``version`` line of ``pyproject.toml`` (so the two never disagree)."""
    try:
        return metadata.version("graphspec")
    except metadata.PackageNotFoundError:
        found = re.search(r'(?m)^version\s*=\s*"([^"]+)"', PYPROJECT.read_text())
        return found.group(1) if found else "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each sets ``func``, the function that runs it."""
    parser = Parser(
        prog="graphspec",
        description="Declarative model-graph compiler and "
        "benchmarking framework for dense-prediction CNNs.",
    )
    parser.add_argument("--version", action="version", version=f"graphspec {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_check_command(sub)
    add_show_commands(sub)
    add_compile_command(sub)
    add_bench_command(sub)
    add_report_command(sub)
    add_demo_command(sub)
    add_search_command(sub)
    add_predict_command(sub)
    add_val_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with one_line_warnings(), sigterm_as_interrupt():
            return args.func(args)
    except UsageError as err:
        print(f"graphspec {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as err:
        print(err, file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # user-facing errors from the harness arrive as their own types
        message = describe_error(exc)
        if message is None and isinstance(exc, OSError):  # a disk fault nothing else named
            message = describe_os_error(exc)
        if message is None:
            if os.environ.get("GRAPHSPEC_DEBUG"):
                raise
            message = internal_error(exc)
        print(message, file=sys.stderr)
        return EXIT_INVALID
