"""``graphspec check``: validate specs (schema, graph, shapes, budgets, runnable by bench).

The compiler is imported lazily so the command starts quickly; results print as text, JSON,
or GitHub ``::error`` annotations for CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphspec import SourceLocation, SpecError, SpecIssue, load_spec, totals
from graphspec.cli.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from graphspec.cli.inputs import output_file
from graphspec.cli.options import add_command
from graphspec.discover import find_specs
from graphspec.lock import LockFileError, LockRun
from graphspec.runnable import check_bench_classes

if TYPE_CHECKING:
    from graphspec import Graph, Spec


def compile_file(path: Path) -> Graph:
    """Load, build and compile one spec; return the final graph or raise SpecError."""
    return _compiled(load_spec(path))


def _compiled(spec: Spec) -> Graph:
    """``compile_graph`` rejects heads that do not fit the task and outputs the task cannot
    score; the harness's class limit is checked here, so check fails what bench fails."""
    from compiler import compile_graph  # the passes only: torch is not imported

    check_bench_classes(spec)
    return compile_graph(spec)


def check_file(path: Path) -> Graph:
    """:func:`compile_file`, plus the ``encoder_init`` checkpoint of a spec that names one:
    it must exist and match the encoder (checked on a ``meta`` model, without weights), so
    a bench run never trains from scratch because of a typo in a path."""
    spec = load_spec(path)
    graph = _compiled(spec)
    if spec.encoder_init is not None:
        from compiler.transfer import check_encoder_init  # torch, for this spec only

        check_encoder_init(graph, spec)
    return graph


def _check(
    files: list[Path], missing: list[str], lock: LockRun | None = None
) -> tuple[list[dict[str, Any]], list[SpecIssue]]:
    """One result per file (valid or not) and every issue, missing paths' first; with a
    lock, each valid file's drift from it is an issue too (and its result's ``lock``)."""
    results: list[dict[str, Any]] = []
    issues: list[SpecIssue] = [
        SpecIssue(
            SourceLocation(m), "file not found (expected a spec file or folder, got a missing path)"
        )
        for m in missing
    ]
    for path in files:
        try:
            graph = check_file(path)
        except SpecError as err:
            issues.extend(err.issues)
            results.append(
                {"file": str(path), "valid": False, "errors": [i.to_dict() for i in err.issues]}
            )
            continue
        total = totals(graph)
        results.append(
            {
                "file": str(path),
                "valid": True,
                "errors": [],
                "params": total.params,
                "gflops": total.gflops,
                **({"rois": total.rois} if total.rois else {}),
            }
        )
        if lock is not None:
            drift = lock.observe(path, graph)
            issues.extend(drift)
            results[-1]["lock"] = [i.to_dict() for i in drift]
    return results, issues


def _print_github(issues: list[SpecIssue]) -> None:
    for issue in issues:
        loc = issue.location
        text = f"{issue}".replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        print(f"::error file={loc.file},line={loc.line},col={loc.column}::{text}")


def _print_text(
    results: list[dict[str, Any]], issues: list[SpecIssue], checked: int, missing: int
) -> None:
    for issue in issues:
        print(issue)
    for result in results:
        if result["valid"]:
            at = f" at {result['rois']} RoIs" if "rois" in result else ""
            print(
                f"{result['file']}: ok ({result['params']:,} parameters, "
                f"{result['gflops']:.3f} GFLOPs{at})"
            )
    bad = sum(not r["valid"] for r in results) + missing
    print(f"{checked} checked, {bad} invalid", file=sys.stderr)


def _open_lock(args: argparse.Namespace) -> LockRun | None:
    """The lock run ``--lock`` or ``--write-lock`` asks for (they exclude each other);
    None without either."""
    if args.lock is not None:
        return LockRun.compare(Path(args.lock))
    if args.write_lock is not None:
        return LockRun.record(output_file(args.write_lock, "--write-lock"))
    return None


def cmd_check(args: argparse.Namespace) -> int:
    files, missing = find_specs(args.paths)
    if missing and not files:
        print(f"graphspec check: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    if not files:
        print("graphspec check: no .yaml/.yml spec files found", file=sys.stderr)
        return EXIT_USAGE
    try:
        lock = _open_lock(args)
    except LockFileError as err:
        print(
            f"graphspec check: bad lock file {args.lock or args.write_lock}: {err}", file=sys.stderr
        )
        return EXIT_USAGE
    results, issues = _check(files, missing, lock)
    if lock is not None:
        lock.finish()
    if args.format == "json":
        print(json.dumps({"valid": not issues, "files": results, "missing": missing}, indent=2))
    elif args.format == "github":
        _print_github(issues)
    else:
        _print_text(results, issues, len(files) + len(missing), len(missing))
    return EXIT_INVALID if issues else EXIT_OK


def add_check_command(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "check",
        help="validate specs (files or folders, recursive)",
        description="Validate specs: schema, graph, shapes, budgets, and that bench can "
        "run them (the head fits the task, the output is what the task scores). Exit 0 "
        "if all are valid, 1 if any is invalid, 2 on usage errors.",
        examples=[
            "graphspec check specs/",
            "graphspec check specs/unet-small.yaml specs/ssd-small.yaml --format json",
            "graphspec check --format github --lock specs.lock.json specs/  # CI",
            "graphspec check --write-lock specs.lock.json specs/",
        ],
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    p.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="github prints ::error annotations for CI",
    )
    locking = p.add_mutually_exclusive_group()
    locking.add_argument(
        "--write-lock",
        metavar="LOCK",
        help="record each valid spec's params, FLOPs, output shapes and SSD box count in "
        "LOCK (JSON; merged with the entries of specs not checked)",
    )
    locking.add_argument(
        "--lock",
        metavar="LOCK",
        help="fail (exit 1) when a spec's recorded values drift or it is missing from LOCK",
    )
    p.set_defaults(func=cmd_check)
