"""``graphspec compile``: emit a spec as readable PyTorch source and/or ONNX, optionally
with a bench job's trained weights (``--weights best.pt``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from graphspec.cli.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError
from graphspec.cli.inputs import input_file, output_file
from graphspec.cli.options import add_command, add_format_option, positive

DEFAULT_OPSET = 20
"""torch.onnx's default opset for the pinned torch (tests/compiler/test_export.py checks it)."""


def _weights_target(args: argparse.Namespace) -> Path | None:
    """Where ``-o model.py`` writes the weights: ``model.pt`` beside it (None without
    ``--weights`` or ``-o``)."""
    if not (args.weights and args.output):
        return None
    from compiler.emit.export import weights_beside

    return weights_beside(args.output)


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.weights and not (args.output or args.onnx):
        return "--weights needs -o FILE.py and/or --onnx FILE.onnx"
    target = _weights_target(args)
    if target is not None and target.resolve() == Path(args.weights).resolve():
        return f"-o {args.output} would overwrite --weights {args.weights} (expected another name)"
    if target is not None and target.resolve() == Path(args.output).resolve():
        return f"-o {args.output} must not end in .pt (the weights are written there)"
    return None


def _check_paths(args: argparse.Namespace) -> None:
    """Every path and the opset, before anything is compiled or written: a missing input, a
    folder for a file or an opset the exporter refuses is a UsageError (exit 2)."""
    input_file(args.spec, "a spec file")
    if args.weights:
        input_file(args.weights, "a state_dict .pt file", "--weights")
    if args.output:
        output_file(args.output, "-o")
    if args.onnx:
        output_file(args.onnx, "--onnx")
        if args.opset is not None:
            _check_opset(args.opset)


def _check_opset(opset: int) -> None:
    """The exporter's own range check (18 to the installed onnx's newest), run before any
    file is written; without the onnx extra the export itself says what is missing."""
    from compiler.emit.onnx import OnnxExportError
    from compiler.emit.onnx import _check_opset as check_opset

    try:
        check_opset(opset)
    except OnnxExportError as err:
        raise UsageError(str(err)) from None
    except ImportError:
        return


def cmd_compile(args: argparse.Namespace) -> int:
    from compiler import compile_graph, fc_to_conv
    from compiler.emit import generate_source
    from compiler.emit.export import export_files
    from compiler.emit.onnx import OnnxExportError
    from compiler.emit.weights import WeightsError
    from graphspec import load_spec

    problem = _usage_problem(args)
    if problem:
        print(f"graphspec compile: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    _check_paths(args)
    graph = compile_graph(load_spec(Path(args.spec)))
    if args.fcn:
        graph = fc_to_conv(graph)
    as_json = args.format == "json"
    if not args.output and not args.onnx:
        source = generate_source(graph)
        sys.stdout.write(
            json.dumps({"source": source, "written": []}) + "\n" if as_json else source
        )
        return EXIT_OK
    as_given = {Path(p): p for p in (args.output, args.onnx) if p}  # "wrote ./m.py" as typed
    written: list[str] = []

    def wrote(path: Path) -> None:
        written.append(str(as_given.get(path, path)))
        if not as_json:
            print(f"wrote {written[-1]}")

    try:
        export_files(
            graph,
            source=args.output or None,
            onnx=args.onnx or None,
            weights=args.weights or None,
            fcn=args.fcn,
            opset=args.opset,
            on_write=wrote,
        )
    except (WeightsError, OnnxExportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    finally:
        if as_json:  # what was written, also when a later export failed
            print(json.dumps({"written": written}, indent=1))
    return EXIT_OK


def add_compile_command(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "compile",
        help="emit a spec as Python source and/or ONNX, optionally with trained weights",
        description="Compile a spec. Without -o/--onnx the Python source is printed to stdout. "
        "With --weights (a bench job's best.pt or last.pt) the outputs carry those weights.",
        examples=[
            "graphspec compile specs/unet-small.yaml",
            "graphspec compile specs/ssd-small.yaml --onnx ssd-small.onnx --opset 18",
            "graphspec compile specs/unet-small.yaml -o unet.py --weights best.pt",
            "graphspec compile --fcn specs/classifier-small.yaml -o classifier_fcn.py",
        ],
    )
    p.add_argument("spec", metavar="SPEC", help="the spec file")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.py",
        help="write readable PyTorch source; with --weights also FILE.pt beside it "
        "(the state_dict the generated class loads; its docstring says how)",
    )
    p.add_argument(
        "--onnx",
        metavar="FILE.onnx",
        help="export ONNX (needs the onnx extra): input 'images', outputs 'logits' "
        "(segmentation, classification) or, for SSD and YOLO, 'scores' [N,M,K] and "
        "'boxes' [N,M,4] (every candidate decoded to pixel xyxy, before NMS); "
        "the batch axis is dynamic, H and W are fixed at the spec's input size "
        "(unpooling, resizes and FC->conv kernels are built for it)",
    )
    p.add_argument(
        "--weights",
        metavar="W.pt",
        help="load this state_dict (e.g. a bench job's best.pt) strictly into the network; "
        "a missing file is a usage error (exit 2), a bad file or keys that do not match an "
        "error (exit 1)",
    )
    p.add_argument(
        "--opset",
        type=positive,
        metavar="N",
        help=f"ONNX opset, 18 or newer (default: the exporter's, {DEFAULT_OPSET} with this torch)",
    )
    p.add_argument(
        "--fcn",
        action="store_true",
        help="turn a classifier's FC layers into convolutions (FCN heat-maps); "
        "--weights may be the classifier's",
    )
    add_format_option(p, "the files written (without -o/--onnx: the source as a string)")
    p.set_defaults(func=cmd_compile)
