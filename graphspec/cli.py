"""The ``graphspec`` command line: check, summary, schema, compile, bench, report, demo.

This is the only module that sees the spec language, the compiler and the harness; it
imports the latter two lazily so ``graphspec check`` stays quick. Bad input never shows a
traceback: spec problems print as ``file:line:col: key: message`` and set the exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from graphspec.discover import find_specs
from graphspec.errors import SourceLocation, SpecError, SpecIssue

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 on usage errors; keep that, no traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _check_file(path: Path):
    """Load, build and compile one spec; return the final graph or raise SpecError."""
    from compiler import compile_graph
    from graphspec.loader import load_spec

    return compile_graph(load_spec(path))


def cmd_check(args: argparse.Namespace) -> int:
    files, missing = find_specs(args.paths)
    if missing and not files:
        print(f"graphspec check: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    results: list[dict] = []
    issues: list[SpecIssue] = [
        SpecIssue(
            SourceLocation(m), "file not found (expected a spec file or folder, got a missing path)"
        )
        for m in missing
    ]
    for path in files:
        try:
            graph = _check_file(path)
        except SpecError as err:
            issues.extend(err.issues)
            results.append(
                {"file": str(path), "valid": False, "errors": [i.to_dict() for i in err.issues]}
            )
            continue
        from graphspec.graph import totals

        total = totals(graph)
        results.append(
            {
                "file": str(path),
                "valid": True,
                "errors": [],
                "params": total["params"],
                "gflops": total["flops"] / 1e9,
            }
        )
    if args.format == "json":
        print(json.dumps({"valid": not issues, "files": results, "missing": missing}, indent=2))
    elif args.format == "github":
        for issue in issues:
            loc = issue.location
            text = f"{issue}".replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            print(f"::error file={loc.file},line={loc.line},col={loc.column}::{text}")
    else:
        for issue in issues:
            print(issue)
        for result in results:
            if result["valid"]:
                print(
                    f"{result['file']}: ok ({result['params']:,} parameters, "
                    f"{result['gflops']:.3f} GFLOPs)"
                )
        bad = sum(not r["valid"] for r in results) + len(missing)
        print(f"{len(files) + len(missing)} checked, {bad} invalid", file=sys.stderr)
    if not files and not missing:
        print("graphspec check: no .yaml/.yml spec files found", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_INVALID if issues else EXIT_OK


def cmd_summary(args: argparse.Namespace) -> int:
    from graphspec.summary import format_summary, summary_dict

    graph = _check_file(Path(args.path))
    if args.json:
        print(json.dumps(summary_dict(graph), indent=2))
    else:
        print(format_summary(graph))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from graphspec.schema import Spec

    print(json.dumps(Spec.model_json_schema(by_alias=True), indent=2))
    return EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    from compiler import GraphNet, compile_graph
    from compiler.codegen import generate_source
    from compiler.fc_to_conv import fc_to_conv
    from graphspec.loader import load_spec

    spec = load_spec(args.spec)
    graph = compile_graph(spec)
    if args.fcn:
        graph = fc_to_conv(graph)
    if not args.output and not args.onnx:
        sys.stdout.write(generate_source(graph))
        return EXIT_OK
    if args.output:
        _atomic_write_text(Path(args.output), generate_source(graph))
        print(f"wrote {args.output}")
    if args.onnx:
        from compiler.emit import example_input
        from compiler.onnx_export import export_onnx

        export_onnx(GraphNet(graph), example_input(graph), args.onnx)
        print(f"wrote {args.onnx}")
    return EXIT_OK


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="graphspec",
        description="Declarative model-graph compiler and "
        "benchmarking framework for dense-prediction CNNs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser(
        "check",
        help="validate specs (files or folders, recursive)",
        description="Validate specs: schema, graph, shapes, budgets. Exit 0 "
        "if all are valid, 1 if any is invalid, 2 on usage errors.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="github prints ::error annotations for CI (default: text)",
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "summary",
        help="per-layer table of a spec, decoder and head included",
        description="Per-layer table: name, op, output shape, params, FLOPs "
        "(2 x MACs), receptive field, cumulative stride; and totals.",
    )
    p.add_argument("path", metavar="SPEC")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("schema", help="print the JSON Schema of a spec (for YAML editors)")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser(
        "compile",
        help="emit a spec as Python source and/or ONNX",
        description="Compile a spec. Without -o/--onnx the Python source is printed to stdout.",
    )
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("-o", "--output", metavar="FILE.py", help="write readable PyTorch source")
    p.add_argument("--onnx", metavar="FILE.onnx", help="export ONNX (needs the onnx extra)")
    p.add_argument(
        "--fcn",
        action="store_true",
        help="turn a classifier's FC layers into convolutions (FCN heat-maps)",
    )
    p.set_defaults(func=cmd_compile)

    from graphspec.cli_bench import add_bench_commands

    add_bench_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SpecError as err:
        print(err, file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # user-facing errors from the harness arrive as their own types
        from graphspec.cli_bench import describe_error

        message = describe_error(exc)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
