"""``graphspec predict``: a trained model on image files, pictures and COCO results out.

Each image is read as 8-bit RGB (:mod:`benchmarks.inference.images`: capped in pixels from
its header, 16-bit and other modes scaled), resized (bilinear) to the graph's fixed input
size, normalised as in training and run through :class:`~benchmarks.inference.tta.TTATask`;
predictions are mapped back to the image's own size: segmentation logits are resized
bilinearly before the argmax, detection boxes are scaled by the two size ratios. A
detector's boxes are then thresholded: those scoring at least ``conf``, at most ``max_det``
of them, best first (as Ultralytics' ``conf`` and ``max_det``), for the picture and the
COCO results alike. Outputs, for an image whose names are planned as BASE
(:mod:`benchmarks.inference.outputs`: never an input, never twice): ``BASE.png`` (overlay)
and, for segmentation, ``BASE_mask.png`` (class indices); for detection one
``predictions.json`` in COCO results format and ``images.json`` (COCO image entries: ``id``
is the 1-based position in the sorted list of images). Overlays are labelled with the
model's class names (:meth:`~benchmarks.inference.model.LoadedModel.class_names`: its job's
record, its spec's, the data's). An image that cannot be read is skipped and reported; the
others are still predicted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from benchmarks.data import Batch, DataError
from benchmarks.figures.overlay import save_mask, save_png
from benchmarks.figures.shown import DEFAULT_CONF, DEFAULT_MAX_DET
from benchmarks.inference.images import IMAGE_SUFFIXES, ImageError, find_images, read_image
from benchmarks.inference.model import InferenceError, LoadedModel
from benchmarks.inference.outputs import ImageOutputs, OutputPlan, plan_outputs
from benchmarks.inference.tta import TTATask
from benchmarks.tasks.base import ImageResult
from benchmarks.tasks.two_stage import TwoStageTask
from graphspec.atomic import atomic_write_text, ensure_dir

__all__ = [
    "DEFAULT_CONF",
    "DEFAULT_MAX_DET",
    "IMAGE_SUFFIXES",
    "Prediction",
    "PredictResult",
    "Skipped",
    "find_images",
    "plan_outputs",
    "predict_images",
]


@dataclass
class Prediction:
    """What was written for one image."""

    image: Path
    overlay: Path
    mask: Path | None  # segmentation only
    detections: int  # detection only (0 for segmentation)


@dataclass(frozen=True)
class Skipped:
    """An image that was not predicted, and the one-line reason."""

    image: Path
    reason: str


@dataclass
class PredictResult:
    """Every image predicted, and every image skipped (the command then exits 1)."""

    done: list[Prediction] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _input(model: LoadedModel, image: Image.Image) -> torch.Tensor:
    """``[1, 3, H, W]``: the image in [0, 1], resized to the input size and normalised."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1)[None]
    resized = F.interpolate(tensor, size=model.size, mode="bilinear", align_corners=False)
    return model.normalization.apply(resized)


@dataclass(frozen=True)
class _Predictor:
    """The model, its test-time views and the thresholds: one image's prediction."""

    model: LoadedModel
    tta: TTATask
    names: list[str]
    conf: float
    max_det: int

    def __call__(self, image: Image.Image, path: Path) -> ImageResult:
        batch = self._batch(image, path)
        with torch.inference_mode():
            prediction = self.tta.forward(self.model.net, batch)
        prediction = self.model.task.confident(prediction, self.conf, self.max_det)
        return self.model.task.image_result(image, prediction, self.names)

    def _batch(self, image: Image.Image, path: Path) -> Batch:
        """The image at the input size, with what else the task's network reads from
        the data (a two-stage spec's proposal file, named by the image's stem)."""
        pixels = _input(self.model, image)
        item = {"image": pixels[0], "name": path.stem, "source_size": (image.height, image.width)}
        extra = self.model.task.with_inputs([item])[0]  # type: ignore[arg-type]
        batch: Batch = {"image": pixels}  # type: ignore[typeddict-item]
        if "proposals" in extra:
            batch["proposals"] = [extra["proposals"]]
        return batch


def _check_thresholds(conf: float, max_det: int) -> None:
    if not 0.0 <= conf <= 1.0:
        raise InferenceError(f"bad --conf {conf!r} (expected a score from 0 to 1)")
    if max_det < 1:
        raise InferenceError(f"bad --max-det {max_det!r} (expected at least 1)")


def predict_images(
    model: LoadedModel,
    plan: OutputPlan,
    *,
    scales: tuple[float, ...],
    flip: bool,
    conf: float = DEFAULT_CONF,
    max_det: int = DEFAULT_MAX_DET,
    proposals: Path | None = None,
) -> PredictResult:
    """Predict every image of ``plan`` and write its files (see the module docstring).
    ``proposals``: where a two-stage spec with proposals from files finds them (default:
    the spec's folder); an image without its file is skipped with the reason."""
    _check_thresholds(conf, max_det)
    if proposals is not None:
        if not isinstance(model.task, TwoStageTask) or model.task.proposal_folder is None:
            raise InferenceError("--proposals is for a spec whose proposals come from files")
        model.task.proposal_folder = proposals
    ensure_dir(plan.out)
    names = model.class_names()
    predict = _Predictor(model, TTATask(model, scales, flip), names, conf, max_det)
    result, coco, entries = PredictResult(), [], []
    for number, item in enumerate(plan.items, start=1):
        try:
            image = read_image(item.image)
            predicted = predict(image, item.image)
        except (ImageError, DataError) as exc:
            result.skipped.append(Skipped(item.image, str(exc)))
            continue
        done, found = _write(item, predicted)
        result.done.append(done)
        if found is not None:  # a detector: COCO results for every image
            coco += [{"image_id": number, **entry} for entry in found]
            width, height = image.size
            entries.append(
                {"id": number, "file_name": item.image.name, "width": width, "height": height}
            )
    if entries:
        atomic_write_text(plan.out / "predictions.json", json.dumps(coco, indent=1))
        atomic_write_text(plan.out / "images.json", json.dumps(entries, indent=1))
    return result


def _write(
    item: ImageOutputs, found: ImageResult
) -> tuple[Prediction, list[dict[str, Any]] | None]:
    """Save one image's overlay (and mask): what was written, and its COCO entries."""
    mask = None
    if found.mask is not None:
        mask = item.mask
        save_mask(found.mask, mask)
    save_png(found.overlay, item.overlay)
    done = Prediction(item.image, item.overlay, mask, len(found.detections or []))
    return done, found.detections
