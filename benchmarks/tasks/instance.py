"""Instance segmentation (Mask R-CNN): a two-stage detector whose detections carry masks.

Everything a two-stage detector does (:class:`~benchmarks.tasks.two_stage.TwoStageTask`),
plus the mask branch: its loss (per-pixel sigmoid cross-entropy on each positive RoI's
ground-truth class map, against the ground-truth mask cropped by the RoI), the pasting of
each detection's class map into its box, and mask mAP (COCO ``segm``) beside box mAP.
The data must carry ``instance_masks`` (the shapes data and COCO do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pycocotools import mask as mask_utils
from torch import Tensor

from benchmarks.data import Batch, DataError
from benchmarks.figures.instances import blend_instances, instance_ids
from benchmarks.metrics import instance_map
from benchmarks.tasks.base import ImageResult, Metric, PerClass, View
from benchmarks.tasks.detection import Detections
from benchmarks.tasks.detection_eval import DetectionEvaluator, gather_images, per_class_ap
from benchmarks.tasks.two_stage import TwoStageTask
from compiler.detection.masks import mask_loss, mask_targets, paste_masks
from compiler.emit.two_stage import TwoStageOutput

__all__ = ["InstanceEvaluator", "InstanceTask"]


class InstanceTask(TwoStageTask):
    """``task: instance``: a ``rcnn`` head with a mask branch."""

    name = "instance"
    metrics = (
        Metric("mask_map", "mask mAP@[.5:.95]", "mask mAP@[.5:.95] (fraction)"),
        Metric("mask_map50", "mask mAP@.5", "mask mAP@.5 (fraction)"),
        Metric("map", "box mAP@[.5:.95]", "box mAP@[.5:.95] (fraction)", shown=False),
        Metric("map50", "box mAP@.5", "box mAP@.5 (fraction)", shown=False),
    )
    per_class_name = "mask AP"

    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        """The two-stage losses + ``mask.loss_weight`` x the mask loss."""
        losses = super().loss(model_output, batch)
        out: TwoStageOutput = model_output
        assert out.sampled is not None and out.mask_logits is not None and self.head.mask
        masks = _instance_masks(batch)
        positive = out.sampled.labels > 0
        counts = [len(b) for b in out.sampled.boxes]
        pairs = zip(
            out.sampled.matched.split(counts), out.sampled.labels.split(counts), strict=True
        )
        matched = [which[labels > 0] for which, labels in pairs]
        targets = mask_targets(masks, list(out.mask_rois), matched, out.mask_logits.shape[-2:])
        # An object annotated with a box but no mask (COCO) teaches nothing about masks.
        known = torch.cat([m.flatten(1).any(1)[w] for m, w in zip(masks, matched, strict=True)])
        logits, labels = out.mask_logits.float()[known], out.sampled.labels[positive][known]
        loss = mask_loss(logits, labels, targets[known.to(targets.device)])
        total = losses["loss"] + self.head.mask.loss_weight * loss
        return {**losses, "loss": total, "mask": loss.detach()}

    def decode(self, model_output: Any) -> Detections:
        """The detections the network decoded, each with its class's mask pasted into its
        box at the input size (``masks`` ``[D, H, W]`` bool)."""
        out: TwoStageOutput = model_output
        assert out.detections is not None and out.mask_logits is not None and self.head.mask
        found, start = [], 0
        for dets in out.detections:
            count = len(dets["boxes"])
            logits = out.mask_logits[start : start + count]
            start += count
            probs = logits[torch.arange(count), dets["labels"]].sigmoid().float()
            masks = paste_masks(probs, dets["boxes"], self.image_size, self.head.mask.threshold)
            found.append({**dets, "masks": masks})
        return found

    def evaluator(self, device: torch.device | str | None = None) -> InstanceEvaluator:
        return InstanceEvaluator()

    def unview(self, predictions: Detections, view: View) -> Detections:
        """Boxes as every detector's; masks mirrored back and resized to the input."""
        boxed = super().unview(predictions, view)
        for dets in boxed:
            masks = dets["masks"].flip(-1) if view.flipped else dets["masks"]
            resized = F.interpolate(masks[:, None].float(), size=view.input_size, mode="nearest")
            dets["masks"] = resized[:, 0] > 0.5
        return boxed

    def image_result(
        self, image: Image.Image, prediction: Detections, names: Sequence[str]
    ) -> ImageResult:
        """The boxes drawn over each instance blended in its own colour, the instance-id
        map (``mask``: 0 background, ``i + 1`` detection ``i``) and COCO results with RLE
        ``segmentation``, all at the image's own size."""
        masks = _at_size(prediction[0]["masks"], (image.height, image.width))
        result = super().image_result(blend_instances(image, masks), prediction, names)
        for entry, mask in zip(result.detections or [], masks, strict=True):
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            entry["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
        return ImageResult(result.overlay, mask=instance_ids(masks), detections=result.detections)

    def draw_truth(
        self, image: Image.Image, sample: Mapping[str, Any], names: Sequence[str]
    ) -> Image.Image:
        masks = _at_size(sample["instance_masks"], (image.height, image.width))
        return super().draw_truth(blend_instances(image, masks), sample, names)


def _at_size(masks: Tensor, size: tuple[int, int]) -> np.ndarray:
    """``[D, H, W]`` bool masks resized (nearest) to ``size``, as a NumPy array."""
    if masks.shape[0] == 0 or tuple(masks.shape[-2:]) == size:
        return masks.bool().cpu().numpy().reshape(masks.shape[0], *size)
    resized = F.interpolate(masks[:, None].float().cpu(), size=size, mode="nearest")
    return resized[:, 0].numpy() > 0.5


def _instance_masks(batch: Batch) -> list[Tensor]:
    """The batch's per-object masks, or a DataError naming what the data lacks."""
    masks = batch.get("instance_masks")
    if masks is None:
        raise DataError(
            "this data has no per-object masks (task instance needs them: the shapes data "
            "and COCO have them, the VOC segmentation layout does not)"
        )
    return list(masks)


class InstanceEvaluator(DetectionEvaluator):
    """Box mAP (the detector's evaluator) and mask mAP (COCO ``segm``,
    :func:`benchmarks.metrics.instance_map`) of the same detections; like the boxes, the
    masks are kept per image on the CPU and gathered from every rank under DDP."""

    def __init__(self) -> None:
        super().__init__()
        self.masks: list[dict[str, Tensor]] = []
        self.truth: list[dict[str, Tensor]] = []

    def update(self, predictions: list[dict[str, Tensor]], batch: Batch) -> None:
        super().update([{k: v for k, v in p.items() if k != "masks"} for p in predictions], batch)
        pairs = zip(predictions, _instance_masks(batch), batch["labels"], strict=True)
        for pred, masks, labels in pairs:
            kept = {"masks": pred["masks"], "scores": pred["scores"].float()}
            self.masks.append(
                {**{k: v.detach().cpu() for k, v in kept.items()}, "labels": pred["labels"].cpu()}
            )
            self.truth.append({"masks": masks.detach().cpu(), "labels": labels.cpu()})

    def compute(self) -> dict[str, float]:
        boxes = super().compute()
        masks = instance_map(*gather_images(self.masks, self.truth))
        return {**boxes, "mask_map": float(masks["map"]), "mask_map50": float(masks["map50"])}

    def per_class(self, names: Sequence[str]) -> PerClass:
        """Mask AP of each object class (labels 1..K; NaN without ground truth) and its
        precision at the 101 COCO recall points at mask IoU 0.5."""
        return per_class_ap(instance_map(self.masks, self.truth, num_classes=len(names)), names)
