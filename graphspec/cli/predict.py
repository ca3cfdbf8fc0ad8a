"""``graphspec predict``: run a trained model on image files and write pictures of it.

The work is :func:`benchmarks.inference.predict.predict_images`, imported inside the command
so ``graphspec check`` never pays for torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphspec.cli.errors import EXIT_INVALID, EXIT_OK
from graphspec.cli.options import add_command


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


def add_predict_command(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "predict",
        help="run a trained model on images; write overlays, masks, COCO results",
        description="Resize each image to the spec's fixed input size, predict, and map "
        "the prediction back to the image's size. Segmentation writes NAME.png (overlay) "
        "and NAME_mask.png (class indices); detection writes NAME.png (boxes) and "
        "predictions.json (COCO results).",
        examples=[
            "graphspec predict runs/demo/jobs/JOB photos/ --out preds",
            "graphspec predict specs/segnet-small.yaml a.png --weights best.pt --out preds",
            "graphspec predict runs/demo/jobs/JOB a.png --scales 0.5,1,1.5 --flip --out tta",
        ],
    )
    add_model_options(p)
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="images or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from benchmarks.data import DataError
    from benchmarks.inference.model import InferenceError, load_model
    from benchmarks.inference.predict import find_images, predict_images
    from benchmarks.inference.tta import parse_scales
    from compiler.emit.weights import WeightsError

    try:
        scales = parse_scales(args.scales)
        images = find_images(args.images)
        model = load_model(args.model, args.weights, normalize=args.normalize)
        done = predict_images(model, images, Path(args.out), scales=scales, flip=args.flip)
    except (InferenceError, WeightsError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    for item in done:
        extra = f", {item.detections} boxes" if item.mask is None else f", {item.mask.name}"
        print(f"{item.image} -> {item.overlay}{extra}")
    return EXIT_OK
