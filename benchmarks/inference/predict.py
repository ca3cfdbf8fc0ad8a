"""``graphspec predict``: a trained model on image files, pictures and COCO results out.

Each image is read as RGB, resized (bilinear) to the graph's fixed input size, normalised
as in training and run through :class:`~benchmarks.inference.tta.TTATask`; predictions are mapped
back to the image's own size: segmentation logits are resized bilinearly before the
argmax, detection boxes are scaled by the two size ratios. Outputs, for an image NAME:
``NAME.png`` (overlay) and, for segmentation, ``NAME_mask.png`` (class indices); for
detection one ``predictions.json`` in COCO results format and ``images.json`` (COCO image
entries: ``id`` is the 1-based position in the sorted list of images).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from benchmarks.data.names import class_names
from benchmarks.figures.overlay import save_mask, save_png
from benchmarks.inference.model import InferenceError, LoadedModel
from benchmarks.inference.tta import TTATask
from graphspec.atomic import atomic_write_text

__all__ = ["IMAGE_SUFFIXES", "Prediction", "find_images", "predict_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass
class Prediction:
    """What was written for one image."""

    image: Path
    overlay: Path
    mask: Path | None  # segmentation only
    detections: int  # detection only (0 for segmentation)


def find_images(paths: list[str]) -> list[Path]:
    """Image files named, or found (sorted) in the folders named."""
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise InferenceError(f"no such image or folder: {path}")
    if not found:
        raise InferenceError(f"no images found (expected {', '.join(IMAGE_SUFFIXES)} files)")
    return found


def _input(model: LoadedModel, image: Image.Image) -> torch.Tensor:
    """``[1, 3, H, W]``: the image in [0, 1], resized to the input size and normalised."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1)[None]
    resized = F.interpolate(tensor, size=model.size, mode="bilinear", align_corners=False)
    return model.normalization.apply(resized)


def predict_images(
    model: LoadedModel, images: list[Path], out: Path, *, scales: tuple[float, ...], flip: bool
) -> list[Prediction]:
    """Predict every image and write its files under ``out`` (see the module docstring)."""
    out.mkdir(parents=True, exist_ok=True)
    tta = TTATask(model, scales, flip)
    names = class_names(model.data, model.task.data_classes(model.spec))
    done, results, entries, coco = [], [], [], False
    for number, path in enumerate(images, start=1):
        try:
            image = Image.open(path).convert("RGB")
        except OSError as exc:
            raise InferenceError(f"cannot read image {path} ({exc})") from None
        with torch.inference_mode():
            prediction = tta.forward(model.net, {"image": _input(model, image)})
        found = model.task.image_result(image, prediction, names)
        overlay, mask_path = out / f"{path.stem}.png", None
        if found.mask is not None:
            mask_path = out / f"{path.stem}_mask.png"
            save_mask(found.mask, mask_path)
        save_png(found.overlay, overlay)
        if found.detections is not None:  # a detector: COCO results for every image
            coco = True
            results += [{"image_id": number, **entry} for entry in found.detections]
        width, height = image.size
        entries.append({"id": number, "file_name": path.name, "width": width, "height": height})
        done.append(Prediction(path, overlay, mask_path, len(found.detections or [])))
    if coco:
        atomic_write_text(out / "predictions.json", json.dumps(results, indent=1))
        atomic_write_text(out / "images.json", json.dumps(entries, indent=1))
    return done
