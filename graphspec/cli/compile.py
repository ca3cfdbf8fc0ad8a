"""``graphspec compile``: emit a spec as readable PyTorch source and/or ONNX."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphspec.cli.errors import EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    from benchmarks.atomic import atomic_write_text
    from compiler import GraphNet, compile_graph, fc_to_conv
    from compiler.emit import example_input, export_onnx, generate_source
    from graphspec import load_spec

    spec = load_spec(args.spec)
    graph = compile_graph(spec)
    if args.fcn:
        graph = fc_to_conv(graph)
    if not args.output and not args.onnx:
        sys.stdout.write(generate_source(graph))
        return EXIT_OK
    if args.output:
        atomic_write_text(Path(args.output), generate_source(graph))
        print(f"wrote {args.output}")
    if args.onnx:
        export_onnx(GraphNet(graph), example_input(graph), args.onnx)
        print(f"wrote {args.onnx}")
    return EXIT_OK


def add_compile_command(sub: argparse._SubParsersAction) -> None:
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
