"""Detection maths of the SSD, YOLOv1 and two-stage heads, their training and evaluation.

Plain batched PyTorch with no dependency on the rest of ``compiler`` (so the runtime
``compiler.ops`` can re-export from here without an import cycle):

* ``box_ops``: box area, IoU, ``xyxy`` / ``cxcywh`` conversion, clipping, exact greedy NMS;
* ``anchors``: SSD default boxes, in the order the detection heads flatten their outputs;
* ``box_coding``: SSD offset encoding / decoding, target padding, anchor matching;
* ``ssd_loss``: the SSD multibox loss with hard negative mining;
* ``yolo_loss``: the YOLOv1 loss and the YOLOv1 output layout;
* ``postprocess``: raw SSD / YOLOv1 outputs -> per-image detections (scores, NMS, top-k);
* ``rpn``: Faster R-CNN's anchors, proposals, anchor sampling and RPN loss;
* ``roi_sampling``: Fast R-CNN's RoI minibatch and its regression targets;
* ``two_stage_loss``, ``two_stage_decode``: the box head's loss, deltas and decoding;
* ``window_proposals``: the built-in proposal rule (import it from its module: the
  function shares the module's name).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "anchors_per_position": "compiler.detection.rpn",
    "batched_nms": "compiler.detection.box_ops",
    "box_area": "compiler.detection.box_ops",
    "box_convert": "compiler.detection.box_ops",
    "box_head_candidates": "compiler.detection.two_stage_decode",
    "box_head_loss": "compiler.detection.two_stage_loss",
    "box_iou": "compiler.detection.box_ops",
    "boxes_per_cell": "compiler.detection.cells",
    "BoxFormat": "compiler.detection.box_ops",
    "clip_boxes": "compiler.detection.box_ops",
    "decode": "compiler.detection.box_coding",
    "decode_deltas": "compiler.detection.two_stage_decode",
    "decode_ssd": "compiler.detection.postprocess",
    "decode_two_stage": "compiler.detection.two_stage_decode",
    "decode_yolo": "compiler.detection.postprocess",
    "encode": "compiler.detection.box_coding",
    "encode_deltas": "compiler.detection.two_stage_decode",
    "hard_negative_mask": "compiler.detection.ssd_loss",
    "head_default_boxes": "compiler.detection.anchors",
    "label_anchors": "compiler.detection.rpn",
    "match": "compiler.detection.box_coding",
    "multibox_loss": "compiler.detection.ssd_loss",
    "nms": "compiler.detection.box_ops",
    "pad_targets": "compiler.detection.box_coding",
    "rpn_anchors": "compiler.detection.rpn",
    "rpn_loss": "compiler.detection.rpn",
    "rpn_proposals": "compiler.detection.rpn",
    "sample_rois": "compiler.detection.roi_sampling",
    "SampledRoIs": "compiler.detection.roi_sampling",
    "split_yolo_output": "compiler.detection.yolo_loss",
    "ssd_candidates": "compiler.detection.postprocess",
    "ssd_default_boxes": "compiler.detection.anchors",
    "ssd_scales": "compiler.detection.anchors",
    "subsample_labels": "compiler.detection.rpn",
    "Variances": "compiler.detection.box_coding",
    "yolo_boxes_xyxy": "compiler.detection.yolo_loss",
    "yolo_candidates": "compiler.detection.postprocess",
    "yolo_v1_loss": "compiler.detection.yolo_loss",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """Load each name on first use: ``cells`` (torch-free) is imported by the compiler's
    SSD pass, the rest needs torch and is only loaded by what uses it."""
    if name not in _WHERE:
        raise AttributeError(f"module 'compiler.detection' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
