"""``graphspec val``: score a trained model on a split; metrics and a per-class table.

The work is :func:`benchmarks.inference.val.validate_model`, imported inside the command so
``graphspec check`` never pays for torch. Every option is checked first, as bench checks its
own (the device exists, the data opens): a wrong one is a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from graphspec.cli.errors import EXIT_INVALID, EXIT_OK, UsageError
from graphspec.cli.inputs import output_dir
from graphspec.cli.options import add_command, add_format_option, device_name, positive
from graphspec.cli.predict import add_model_options, check_model_args, parse_scales
from graphspec.cli.run_options import check_data, check_device

if TYPE_CHECKING:
    from benchmarks.inference.val import ValResult


def add_val_command(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "val",
        help="score a trained model on a data split, with per-class numbers",
        description="Evaluate as bench does (same data, normalisation and metrics): scale 1 "
        "without --flip reproduces the job's results row. Prints the metrics and per-class "
        "IoU (segmentation) or AP (detection); --out also writes val.json and "
        "confusion.png (segmentation) or pr_curves.png (detection, IoU 0.5).",
        examples=[
            "graphspec val runs/demo/jobs/JOB",
            "graphspec val runs/demo/jobs/JOB --scales 0.5,1,1.5 --flip --format json",
            "graphspec val specs/segnet-small.yaml --weights best.pt --out val",
        ],
    )
    add_model_options(p)
    p.add_argument(
        "--data", default=None, help="shapes, voc:PATH or coco:PATH (default: the job's data)"
    )
    p.add_argument("--split", default="test", help="split to score: train, val or test")
    p.add_argument("--batch-size", type=positive, default=16, help="images per batch")
    p.add_argument(
        "--device",
        type=device_name,
        default="cpu",
        help="cpu | cuda | cuda:N | mps; it must exist on this machine",
    )
    add_format_option(
        p, "the metrics, per-class numbers and confusion matrix (NaN as null)", json_alias=True
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write val.json and confusion.png (segmentation) or pr_curves.png (detection)",
    )
    p.set_defaults(func=cmd_val)


def _table(result: ValResult) -> str:
    """Metrics, then one line per class."""
    what = result.score_name
    lines = [f"{result.data} {result.split}: {result.images} images"]
    lines += [f"  {key:<12} {value:.4f}" for key, value in result.metrics.items()]
    width = max(len(c.name) for c in result.per_class)
    lines.append(f"  {'class':<{width}}  {what}")
    for score in result.per_class:
        value = "-" if math.isnan(score.value) else f"{score.value:.4f}"
        lines.append(f"  {score.name:<{width}}  {value}")
    return "\n".join(lines)


def _check_args(args: argparse.Namespace) -> tuple[float, ...]:
    """Every option, before the model loads (a wrong one is a UsageError, exit 2): MODEL and
    its options, the scales (returned), the split, the device, the data and ``--out``."""
    from benchmarks.data import SPLITS

    check_model_args(args)
    scales = parse_scales(args.scales)
    if args.split not in SPLITS:
        raise UsageError(f"unknown --split {args.split!r} (expected one of {', '.join(SPLITS)})")
    problem = check_device(args.device)
    if problem is None and args.data is not None:
        problem = check_data(args.data)
    if problem is not None:
        raise UsageError(problem)
    if args.out is not None:
        output_dir(args.out)
    return scales


def cmd_val(args: argparse.Namespace) -> int:
    from benchmarks.data import DataError
    from benchmarks.inference.model import InferenceError, load_model
    from benchmarks.inference.val import validate_model, write_val_files
    from compiler.emit.weights import WeightsError

    scales = _check_args(args)
    try:
        model = load_model(
            args.model, args.weights, normalize=args.normalize, data=args.data or "shapes"
        )
        result = validate_model(
            model,
            data=args.data,
            split=args.split,
            scales=scales,
            flip=args.flip,
            batch_size=args.batch_size,
            device=args.device,
        )
        if args.out is not None:
            write_val_files(result, Path(args.out))
    except (InferenceError, WeightsError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(json.dumps(result.as_json(), indent=1) if args.format == "json" else _table(result))
    return EXIT_OK
