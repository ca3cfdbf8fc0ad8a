"""``graphspec compile``: emit a spec as readable PyTorch source and/or ONNX, optionally
with a bench job's trained weights (``--weights best.pt``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphspec.cli.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from graphspec.cli.options import add_command, positive

DEFAULT_OPSET = 20
"""torch.onnx's default opset for the pinned torch (tests/compiler/test_export.py checks it)."""


def _weights_target(args: argparse.Namespace) -> Path | None:
    """Where ``-o model.py`` writes the weights: ``model.pt`` beside it (None without
    ``--weights`` or ``-o``)."""
    if not (args.weights and args.output):
        return None
    return Path(args.output).with_suffix(".pt")


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.weights and not (args.output or args.onnx):
        return "--weights needs -o FILE.py and/or --onnx FILE.onnx"
    target = _weights_target(args)
    if target is not None and target.resolve() == Path(args.weights).resolve():
        return f"-o {args.output} would overwrite --weights {args.weights} (expected another name)"
    if target is not None and target.resolve() == Path(args.output).resolve():
        return f"-o {args.output} must not end in .pt (the weights are written there)"
    return None


def cmd_compile(args: argparse.Namespace) -> int:
    from compiler import GraphNet, compile_graph, fc_to_conv
    from compiler.emit import export_onnx, generate_source
    from compiler.emit.onnx import OnnxExportError
    from compiler.emit.weights import WeightsError, load_weights, read_state_dict, save_state
    from compiler.passes.fc_to_conv import classifier_to_fcn_state_dict
    from graphspec import load_spec
    from graphspec.atomic import atomic_write_text

    problem = _usage_problem(args)
    if problem:
        print(f"graphspec compile: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    spec = load_spec(args.spec)
    graph = compile_graph(spec)
    if args.fcn:
        graph = fc_to_conv(graph)
    if not args.output and not args.onnx:
        sys.stdout.write(generate_source(graph))
        return EXIT_OK
    net = GraphNet(graph)
    target = _weights_target(args)
    try:
        if args.weights:
            state = read_state_dict(args.weights)
            if args.fcn:  # a trained classifier's linear weights, reshaped to the convs
                state = classifier_to_fcn_state_dict(state, graph)
            load_weights(net, state, args.weights)
        if args.output:
            weights_file = target.name if target else None
            atomic_write_text(Path(args.output), generate_source(graph, weights_file=weights_file))
            print(f"wrote {args.output}")
        if target is not None:
            save_state(target, net.state_dict())
            print(f"wrote {target}")
        if args.onnx:
            export_onnx(net, args.onnx, opset=args.opset)
            print(f"wrote {args.onnx}")
    except (WeightsError, OnnxExportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
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
        "a missing file or keys that do not match is an error (exit 1)",
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
    p.set_defaults(func=cmd_compile)
