"""Single-stage detection: a joint class + box loss, NMS decoding, COCO and VOC mAP.

:class:`DetectionTask` holds what every detector shares (metrics, decoding's output,
scoring, test-time views, pictures); :class:`SSDTask` and :class:`YOLOTask` hold what their
head differs in: the model returns ``(scores [N, A, C+1], offsets [N, A, 4])`` for an SSD
head and an ``[N, S, S, B*5 + C]`` grid for a YOLO head, whose layout (anchors, grid) is
read from the graph's :class:`~graphspec.DetectionHead`, set by the head pass.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from benchmarks.data import Batch
from benchmarks.figures.overlay import draw_boxes
from benchmarks.tasks.base import Baseline, Evaluator, ImageResult, Metric, Task, View
from benchmarks.tasks.detection_eval import DetectionEvaluator, targets_of
from compiler.detection.anchors import head_default_boxes
from compiler.detection.postprocess import decode_ssd, decode_yolo
from compiler.detection.ssd_loss import multibox_loss
from compiler.detection.yolo_loss import yolo_v1_loss
from compiler.ops import batched_nms
from graphspec import DetectionHead, Graph, Spec
from graphspec.schema import SSDHead, YOLOHead

__all__ = ["DetectionTask", "SSDTask", "YOLOTask"]

MERGE_IOU = 0.45  # decode_ssd's NMS threshold, reused when merging test-time views
MERGE_TOP_K = 200

Detections = list[dict[str, Tensor]]
"""One dict per image: ``boxes`` ``[M, 4]`` xyxy input pixels, ``scores``, ``labels`` 1..K."""


class DetectionTask(Task):
    """What every single-stage detector shares; a head type subclasses it."""

    name = "detection"
    metrics = (
        Metric("map", "mAP@[.5:.95]", "mAP@[.5:.95] (fraction)"),
        Metric("map50", "mAP@.5", "mAP@.5 (fraction)"),
        Metric("map_voc07", "VOC07 mAP", "VOC07 11-point mAP (fraction)", shown=False),
    )
    per_class_name = "AP"
    head_type: str

    def __init__(self, detection: DetectionHead, image_size: tuple[int, int]) -> None:
        self.detection = detection
        self.num_classes = detection.num_classes
        self.image_size = image_size

    @classmethod
    def serves(cls, spec: Spec, graph: Graph) -> bool:
        head = spec.head.type if spec.head is not None else None
        return spec.task == cls.name and head == cls.head_type and graph.detection is not None

    def predict(self, model_output: Any) -> Detections:
        return self.decode(model_output)

    @abstractmethod
    def decode(self, model_output: Any) -> Detections:
        """Per-image detections (see :data:`Detections`), boxes clipped to the input."""

    def evaluator(self, device: torch.device | str | None = None) -> DetectionEvaluator:
        return DetectionEvaluator()

    def baseline(self, evaluator: Evaluator) -> Baseline:
        """mAP 0: a detector that finds nothing has no true positive on any data."""
        return Baseline(0.0, "no detections")

    def confident(self, predictions: Detections, conf: float, max_det: int) -> Detections:
        """Each image's detections scoring at least ``conf``, the ``max_det`` best, best
        first (ties in their decoded order)."""
        kept = []
        for dets in predictions:
            scores = dets["scores"]
            order = torch.argsort(scores, descending=True, stable=True)
            order = order[scores[order] >= conf][:max_det]
            kept.append({key: value[order] for key, value in dets.items()})
        return kept

    def unview(self, predictions: Detections, view: View) -> Detections:
        """Boxes found on a view, mirrored back (x -> width - x) and scaled to the input."""
        (height, width), (view_h, view_w) = view.input_size, view.size
        out = []
        for dets in predictions:
            boxes = dets["boxes"].float()
            if view.flipped:
                x1, y1, x2, y2 = boxes.unbind(1)
                boxes = torch.stack([view_w - x2, y1, view_w - x1, y2], 1)
            scale = boxes.new_tensor([width / view_w, height / view_h] * 2)
            out.append({**dets, "boxes": boxes * scale})
        return out

    def merge(self, views: list[Detections]) -> Detections:
        """Each image's detections from every view, merged by per-class NMS (whatever
        else a detection carries, such as its mask, follows it)."""
        merged = []
        for found in zip(*views, strict=True):
            joined = {key: torch.cat([d[key] for d in found]) for key in found[0]}
            joined["scores"] = joined["scores"].float()
            keep = batched_nms(joined["boxes"], joined["scores"], joined["labels"], MERGE_IOU)
            merged.append({key: value[keep[:MERGE_TOP_K]] for key, value in joined.items()})
        return merged

    def image_result(
        self, image: Image.Image, prediction: Detections, names: Sequence[str]
    ) -> ImageResult:
        """The image's boxes scaled to its size, drawn, and as COCO results entries
        (``bbox`` ``[x, y, width, height]`` in image pixels; the caller adds ``image_id``)."""
        dets = prediction[0]
        scale = torch.tensor(
            [image.width / self.image_size[1], image.height / self.image_size[0]] * 2
        )
        boxes = (dets["boxes"].float().cpu() * scale).numpy()
        labels, scores = dets["labels"].cpu().tolist(), dets["scores"].float().cpu().tolist()
        entries = [
            {
                "category_id": int(label),
                "bbox": [round(float(v), 2) for v in (x1, y1, x2 - x1, y2 - y1)],
                "score": round(float(score), 5),
            }
            for (x1, y1, x2, y2), label, score in zip(boxes, labels, scores, strict=True)
        ]
        overlay = draw_boxes(image, boxes, labels, scores, names)
        return ImageResult(overlay, detections=entries)

    def draw_truth(
        self, image: Image.Image, sample: Mapping[str, Any], names: Sequence[str]
    ) -> Image.Image:
        boxes, labels = np.asarray(sample["boxes"]), sample["labels"].tolist()
        return draw_boxes(image, boxes, labels, [1.0] * len(labels), names)


class SSDTask(DetectionTask):
    """SSD: multibox loss over the default boxes, softmax scores, per-class NMS."""

    head_type = "ssd"

    def __init__(self, head: SSDHead, detection: DetectionHead, image_size: tuple[int, int]):
        super().__init__(detection, image_size)
        self.head = head  # loss settings; the anchor layout is read from ``detection`` only
        self._anchors: Tensor | None = None

    @classmethod
    def for_spec(cls, spec: Spec, graph: Graph) -> SSDTask:
        assert isinstance(spec.head, SSDHead) and graph.detection is not None
        return cls(spec.head, graph.detection, (spec.input.height, spec.input.width))

    def anchors(self, device: torch.device) -> Tensor:
        if self._anchors is None or self._anchors.device != device:
            self._anchors = head_default_boxes(self.detection, device=device)
        return self._anchors

    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        scores, offsets = model_output
        loss = self.head.loss
        return multibox_loss(
            scores.float(),
            offsets.float(),
            self.anchors(scores.device),
            targets_of(batch),
            image_size=self.image_size,
            box_loss=loss.box,
            box_weight=loss.box_weight,
            neg_pos_ratio=loss.neg_pos_ratio,
            iou_threshold=loss.iou_threshold,
        )

    def decode(self, model_output: Any) -> Detections:
        scores, offsets = model_output
        anchors = self.anchors(scores.device)
        return decode_ssd(scores.float(), offsets.float(), anchors, image_size=self.image_size)


class YOLOTask(DetectionTask):
    """YOLOv1: the sum-squared grid loss, confidence x class scores, per-class NMS."""

    head_type = "yolo"

    def __init__(self, head: YOLOHead, detection: DetectionHead, image_size: tuple[int, int]):
        super().__init__(detection, image_size)
        self.head = head

    @classmethod
    def for_spec(cls, spec: Spec, graph: Graph) -> YOLOTask:
        assert isinstance(spec.head, YOLOHead) and graph.detection is not None
        return cls(spec.head, graph.detection, (spec.input.height, spec.input.width))

    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        return yolo_v1_loss(
            model_output.float(),
            targets_of(batch),
            image_size=self.image_size,
            S=self.detection.grid,
            B=self.detection.boxes,
            C=self.num_classes,
            lambda_coord=self.head.lambda_coord,
            lambda_noobj=self.head.lambda_noobj,
        )

    def decode(self, model_output: Any) -> Detections:
        return decode_yolo(
            model_output.float(),
            image_size=self.image_size,
            S=self.detection.grid,
            B=self.detection.boxes,
            C=self.num_classes,
            score_threshold=0.01,
        )
