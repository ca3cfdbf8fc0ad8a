"""A detector whose outputs are boxes and scores, for deployment (ONNX).

The compiled network returns what training needs: SSD offsets to default boxes, or the
YOLOv1 grid. A consumer of an exported model wants every candidate box in pixels and its
class scores, and runs its own thresholding and NMS (whose output sizes depend on the
data, so they stay outside a static graph). :class:`DecodedDetector` appends exactly the
shape-static part of ``compiler.detection.postprocess`` to the network, so the exported
candidates are the ones ``graphspec predict`` selects from.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from compiler.detection.anchors import head_default_boxes
from compiler.detection.postprocess import ssd_candidates, yolo_candidates
from compiler.emit.graphnet import GraphNet
from graphspec.ir import INPUT

__all__ = ["DecodedDetector"]


class DecodedDetector(nn.Module):
    """``images [N, C, H, W]`` -> ``(scores [N, M, K], boxes [N, M, 4])``.

    ``boxes`` are ``xyxy`` in input pixels, clipped to the image; ``scores`` are per-class
    probabilities without background (SSD: softmax over ``K + 1`` logits) or YOLOv1's
    class-specific ``conf * class score``. ``M`` is the number of default boxes (SSD) or
    ``S * S * B`` predictors (YOLO, cells row-major then predictors). The state_dict is the
    wrapped network's: the default boxes are a non-persistent buffer.
    """

    def __init__(self, net: GraphNet) -> None:
        super().__init__()
        layout = net.graph.detection
        if layout is None:
            raise ValueError(f"{net.graph.name} has no detection head")
        self.net = net
        self.layout = layout
        _, height, width = net.graph[INPUT].shape
        self.image_size = (height, width)
        anchors = head_default_boxes(layout) if layout.type == "ssd" else torch.empty(0, 4)
        self.register_buffer("anchors", anchors, persistent=False)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(images)
        if self.layout.type == "ssd":
            logits, offsets = out
            boxes, scores = ssd_candidates(logits, offsets, self.anchors, self.image_size)
        else:
            layout = self.layout
            boxes, scores = yolo_candidates(
                out, self.image_size, layout.grid, layout.boxes, layout.num_classes
            )
        return scores, boxes
