"""``graphspec predict``: run a trained model on image files and write pictures of it.

The work is :func:`benchmarks.inference.predict.predict_images`, imported inside the command
so ``graphspec check`` never pays for torch. MODEL, ``--scales``, the images and ``--out``
are checked first: a wrong one is a usage error (exit 2) before the model loads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.figures.shown import DEFAULT_CONF, DEFAULT_MAX_DET
from benchmarks.inference.limits import MAX_IMAGE_PIXELS
from benchmarks.store.layout import JobFolder
from graphspec.cli.errors import EXIT_INVALID, EXIT_OK, UsageError
from graphspec.cli.inputs import input_dir, input_file, output_dir
from graphspec.cli.options import add_command, add_format_option, positive
from graphspec.cli.run_options import check_normalize

if TYPE_CHECKING:
    from benchmarks.inference.outputs import OutputPlan
    from benchmarks.inference.predict import PredictResult


def add_model_options(p: argparse.ArgumentParser) -> None:
    """MODEL, --weights, --normalize, --scales and --flip (shared with ``val``)."""
    p.add_argument("model", metavar="MODEL", help="a bench job folder RUN/jobs/NAME, or a spec")
    p.add_argument("--weights", default=None, help="state_dict .pt file (with a spec MODEL)")
    p.add_argument(
        "--normalize",
        default=None,
        help="input normalisation as in bench (with a spec MODEL; default: dataset)",
    )
    p.add_argument("--scales", default="1", help="test-time scales, e.g. 0.5,1,1.5")
    p.add_argument("--flip", action="store_true", help="also average the mirrored images")


def _score(text: str) -> float:
    """A confidence from 0 to 1 (``--conf``)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a score from 0 to 1, got {text!r}")
    return value


def add_predict_command(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "predict",
        help="run a trained model on images; write overlays, masks, COCO results",
        description="Resize each image to the spec's fixed input size, predict, and map "
        "the prediction back to the image's size. Segmentation writes NAME.png (overlay) "
        "and NAME_mask.png (class indices); detection writes NAME.png (boxes) and "
        "predictions.json (COCO results).\n\n"
        "NAME is the image's stem; images that share a stem keep their suffix (a.png, "
        "a.jpg -> a_png.png, a_jpg.png) and a name already written in this run gets _2, _3. "
        "Nothing is written over an input image, and --out may not be (or be inside) an "
        "input folder unless --exist-ok. Images (PNG, JPEG, BMP; 16-bit too) over "
        f"{MAX_IMAGE_PIXELS / 1e6:g} megapixels, or that cannot be read, are skipped with "
        "one line each, and the command then exits 1.",
        examples=[
            "graphspec predict runs/demo/jobs/JOB photos/ --out preds",
            "graphspec predict specs/segnet-small.yaml a.png --weights best.pt --out preds",
            "graphspec predict runs/demo/jobs/JOB a.png --scales 0.5,1,1.5 --flip --out tta",
            "graphspec predict runs/det/jobs/JOB photos --conf 0.5 --max-det 20 --out b",
        ],
    )
    add_model_options(p)
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="images or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--exist-ok",
        action="store_true",
        help="allow --out to be, or be inside, an input folder (inputs are still never "
        "written over)",
    )
    p.add_argument(
        "--conf",
        type=_score,
        default=DEFAULT_CONF,
        help="detection: keep boxes scoring at least this (as Ultralytics' conf)",
    )
    p.add_argument(
        "--max-det",
        type=positive,
        default=DEFAULT_MAX_DET,
        metavar="N",
        help="detection: keep at most N boxes per image, the best scoring ones",
    )
    p.add_argument(
        "--proposals",
        default=None,
        metavar="DIR",
        help="two-stage spec with proposals from files: read IMAGE_STEM.npy here instead "
        "of in the spec's proposals.folder",
    )
    add_format_option(p, "every file written, each image's files, the images skipped")
    p.set_defaults(func=cmd_predict)


def check_model_args(args: argparse.Namespace) -> None:
    """MODEL and the options that go with it (shared with ``val``), before anything loads:
    a job folder records its weights and normalisation, a spec file needs ``--weights``."""
    model = Path(args.model)
    if not model.exists():
        raise UsageError(f"no such job folder or spec file: {args.model}")
    if model.is_dir() and (args.weights is not None or args.normalize is not None):
        raise UsageError(
            f"{model} is a job folder: it records its weights and normalisation "
            "(--weights and --normalize are for a spec file)"
        )
    folder = JobFolder(model)
    if model.is_dir() and not folder.config.is_file():
        raise UsageError(
            f"{model} is not a bench job folder (expected RUN/jobs/NAME with "
            f"{folder.config.name} and {folder.best_weights.name})"
        )
    if not model.is_dir() and args.weights is None:
        raise UsageError(f"{model} is a spec file: give its trained weights with --weights")
    if args.weights is not None:
        input_file(args.weights, "a state_dict .pt file", "--weights")
    if args.normalize is not None:  # as bench's, for the data the model is scored on
        problem = check_normalize(args.normalize, getattr(args, "data", None) or "shapes")
        if problem is not None:
            raise UsageError(problem)


def parse_scales(text: str) -> tuple[float, ...]:
    """``--scales``, parsed by the harness; a bad value is a UsageError."""
    from benchmarks.inference.model import InferenceError
    from benchmarks.inference.tta import parse_scales as parse

    try:
        return parse(text)
    except InferenceError as exc:
        raise UsageError(str(exc)) from None


def _plan(args: argparse.Namespace) -> OutputPlan:
    """The images and the files planned for them: a missing image, a folder without
    images or an ``--out`` that would mix with the inputs is a UsageError."""
    from benchmarks.inference.model import InferenceError
    from benchmarks.inference.predict import find_images, plan_outputs

    out = output_dir(args.out)
    try:
        images = find_images(args.images)
        return plan_outputs(images, out, named=args.images, exist_ok=args.exist_ok)
    except InferenceError as exc:
        raise UsageError(str(exc)) from None


def cmd_predict(args: argparse.Namespace) -> int:
    from benchmarks.data import DataError
    from benchmarks.inference.model import InferenceError, load_model
    from benchmarks.inference.predict import predict_images
    from compiler.emit.weights import WeightsError

    check_model_args(args)
    scales = parse_scales(args.scales)
    proposals = (
        None if args.proposals is None else input_dir(args.proposals, "a folder", "--proposals")
    )
    plan = _plan(args)
    try:
        model = load_model(args.model, args.weights, normalize=args.normalize)
        result = predict_images(
            model,
            plan,
            scales=scales,
            flip=args.flip,
            conf=args.conf,
            max_det=args.max_det,
            proposals=proposals,
        )
    except (InferenceError, WeightsError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.format == "json":
        print(json.dumps(_as_json(result), indent=1))
    else:
        for item in result.done:
            extra = f", {item.detections} boxes" if item.mask is None else f", {item.mask.name}"
            print(f"{item.image} -> {item.overlay}{extra}")
    for skipped in result.skipped:
        print(f"error: {skipped.reason} (skipped)", file=sys.stderr)
    return EXIT_INVALID if result.skipped else EXIT_OK


def _as_json(result: PredictResult) -> dict[str, Any]:
    """``--format json``: every file written, each image's files, the images skipped."""
    images = [
        {
            "image": str(item.image),
            "overlay": str(item.overlay),
            "mask": None if item.mask is None else str(item.mask),
            "boxes": item.detections if item.mask is None else None,
        }
        for item in result.done
    ]
    written = [path for item in images for path in (item["overlay"], item["mask"]) if path]
    skipped = [{"image": str(s.image), "reason": s.reason} for s in result.skipped]
    return {"written": written, "images": images, "skipped": skipped}
