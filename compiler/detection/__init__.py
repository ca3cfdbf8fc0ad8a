"""Detection maths shared by the SSD and YOLOv1 heads, their training and their evaluation.

Plain batched PyTorch with no dependency on the rest of ``compiler`` (so the runtime
``compiler.ops`` can re-export from here without an import cycle):

* ``box_ops``: box area, IoU, ``xyxy`` / ``cxcywh`` conversion, clipping, exact greedy NMS;
* ``anchors``: SSD default boxes, in the order the detection heads flatten their outputs;
* ``box_coding``: SSD offset encoding / decoding, target padding, anchor matching;
* ``ssd_loss``: the SSD multibox loss with hard negative mining;
* ``yolo_loss``: the YOLOv1 loss and the YOLOv1 output layout;
* ``postprocess``: raw SSD / YOLOv1 outputs -> per-image detections (scores, NMS, top-k).
"""

from compiler.detection.anchors import (
    boxes_per_cell,
    head_default_boxes,
    ssd_default_boxes,
    ssd_scales,
)
from compiler.detection.box_coding import Variances, decode, encode, match, pad_targets
from compiler.detection.box_ops import (
    BoxFormat,
    batched_nms,
    box_area,
    box_convert,
    box_iou,
    clip_boxes,
    nms,
)
from compiler.detection.postprocess import (
    decode_ssd,
    decode_yolo,
    ssd_candidates,
    yolo_candidates,
)
from compiler.detection.ssd_loss import hard_negative_mask, multibox_loss
from compiler.detection.yolo_loss import split_yolo_output, yolo_boxes_xyxy, yolo_v1_loss

__all__ = [
    "BoxFormat",
    "Variances",
    "batched_nms",
    "box_area",
    "box_convert",
    "box_iou",
    "boxes_per_cell",
    "clip_boxes",
    "decode",
    "decode_ssd",
    "decode_yolo",
    "encode",
    "hard_negative_mask",
    "head_default_boxes",
    "match",
    "multibox_loss",
    "nms",
    "pad_targets",
    "split_yolo_output",
    "ssd_candidates",
    "ssd_default_boxes",
    "ssd_scales",
    "yolo_boxes_xyxy",
    "yolo_candidates",
    "yolo_v1_loss",
]
