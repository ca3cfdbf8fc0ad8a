"""The detection :class:`~benchmarks.tasks.base.Task`: joint class + box loss, NMS decoding, mAP.

The compiled model returns ``(scores [N, A, C+1], offsets [N, A, 4])`` for an SSD head or
an ``[N, S, S, B*5 + C]`` grid for a YOLO head; the layout (anchors, grid) is read from the
graph's :class:`~graphspec.DetectionHead`, set by the compiler's detection head pass.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from benchmarks.data import Batch
from benchmarks.metrics import detection_map
from benchmarks.tasks.base import Task
from compiler.detection.anchors import head_default_boxes
from compiler.detection.postprocess import decode_ssd, decode_yolo
from compiler.detection.ssd_loss import multibox_loss
from compiler.detection.yolo_loss import yolo_v1_loss
from graphspec import DetectionHead
from graphspec.schema import SSDHead, YOLOHead


def _targets(batch: Batch) -> list[dict[str, Tensor]]:
    return [
        {"boxes": b, "labels": lab} for b, lab in zip(batch["boxes"], batch["labels"], strict=True)
    ]


class DetectionEvaluator:
    """Decodes each batch with NMS and scores the split with COCO and VOC mAP.

    Detections are kept per image (on the CPU), so under DDP they are gathered from every
    rank with ``all_gather_object`` in :meth:`compute` rather than summed."""

    def __init__(self, task: DetectionTask) -> None:
        self.task = task
        self.predictions: list[dict[str, Tensor]] = []
        self.targets: list[dict[str, Tensor]] = []

    def update(self, model_output: Any, batch: Batch) -> None:
        for pred in self.task.decode(model_output):
            self.predictions.append(
                {
                    k: v.detach().float().cpu() if k != "labels" else v.detach().cpu()
                    for k, v in pred.items()
                }
            )
        for target in _targets(batch):
            self.targets.append({k: v.detach().cpu() for k, v in target.items()})

    def state_tensors(self) -> list[Tensor]:
        return []

    def compute(self) -> dict[str, float]:
        predictions, targets = self.predictions, self.targets
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, (predictions, targets))
            predictions = [p for part in gathered for p in part[0]]
            targets = [t for part in gathered for t in part[1]]
        result = detection_map(predictions, targets)  # classes: labels seen (1..K)
        return {k: float(v) for k, v in result.items() if isinstance(v, int | float)}


class DetectionTask(Task):
    """Single-stage detection with an SSD or YOLOv1 head."""

    name = "detection"
    metric = "map"

    def __init__(
        self, head: SSDHead | YOLOHead, detection: DetectionHead, image_size: tuple[int, int]
    ) -> None:
        self.head = head  # loss settings; the anchor layout is read from ``detection`` only
        self.detection = detection
        self.num_classes = detection.num_classes
        self.image_size = image_size
        self._anchors: Tensor | None = None

    def anchors(self, device: torch.device) -> Tensor:
        if self._anchors is None or self._anchors.device != device:
            self._anchors = head_default_boxes(self.detection, device=device)
        return self._anchors

    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        targets = _targets(batch)
        if isinstance(self.head, SSDHead):
            scores, offsets = model_output
            loss = self.head.loss
            return multibox_loss(
                scores.float(),
                offsets.float(),
                self.anchors(scores.device),
                targets,
                image_size=self.image_size,
                box_loss=loss.box,
                box_weight=loss.box_weight,
                neg_pos_ratio=loss.neg_pos_ratio,
                iou_threshold=loss.iou_threshold,
            )
        return yolo_v1_loss(
            model_output.float(),
            targets,
            image_size=self.image_size,
            S=self.detection.grid,
            B=self.detection.boxes,
            C=self.num_classes,
            lambda_coord=self.head.lambda_coord,
            lambda_noobj=self.head.lambda_noobj,
        )

    def decode(self, model_output: Any) -> list[dict[str, Tensor]]:
        """Per-image detections: boxes in pixels (clipped), scores, labels 1..K."""
        if isinstance(self.head, SSDHead):
            scores, offsets = model_output
            return decode_ssd(
                scores.float(),
                offsets.float(),
                self.anchors(scores.device),
                image_size=self.image_size,
            )
        return decode_yolo(
            model_output.float(),
            image_size=self.image_size,
            S=self.detection.grid,
            B=self.detection.boxes,
            C=self.num_classes,
            score_threshold=0.01,
        )

    def evaluator(self, device: torch.device | str | None = None) -> DetectionEvaluator:
        return DetectionEvaluator(self)
