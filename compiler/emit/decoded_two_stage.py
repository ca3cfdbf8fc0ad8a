"""A two-stage detector for deployment (ONNX): given RoIs in, candidates out.

Proposal selection (top-k, NMS) and the final per-class NMS have data-dependent sizes,
so, as for SSD and YOLO (:mod:`compiler.emit.decoded`), they stay with the consumer:
:class:`DecodedTwoStage` takes the images and the RoIs to score, ``[R, 5]`` rows
``(batch_index, x1, y1, x2, y2)`` in input pixels, and returns every RoI's class scores
and per-class boxes. With an RPN it also returns every anchor's objectness and decoded
box, from which the consumer picks the RoIs (top-k, NMS) as ``graphspec predict`` does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from compiler.detection.box_coding import decode
from compiler.detection.box_ops import box_convert, clip_boxes
from compiler.detection.two_stage_decode import box_head_candidates
from compiler.emit.two_stage import TwoStageNet
from graphspec.ir import INPUT

__all__ = ["DecodedTwoStage"]


class DecodedTwoStage(nn.Module):
    """``(images [N, C, H, W], rois [R, 5])`` -> ``scores [R, K]`` (softmax without
    background), ``boxes [R, K, 4]`` (each class's box, xyxy pixels, clipped); with a mask
    branch ``masks [R, K, MH, MW]`` (each class's mask probabilities in the RoI, before
    pasting); with an RPN also ``proposal_scores [N, A]`` and ``proposal_boxes [N, A, 4]``."""

    def __init__(self, net: TwoStageNet) -> None:
        super().__init__()
        self.net = net
        _, height, width = net.graph[INPUT].shape
        self.image_size = (height, width)
        self.stds = tuple(net.layout.head.loss.stds)

    def forward(self, images: Tensor, rois: Tensor) -> tuple[Tensor, ...]:
        masked = self.net.layout.masks is not None
        out = self.net(images, proposals=rois, mask_boxes=rois if masked else None)
        scores, boxes = box_head_candidates(
            out.class_logits, out.box_deltas, rois[:, 1:], self.image_size, self.stds
        )
        masks = () if out.mask_logits is None else (torch.sigmoid(out.mask_logits)[:, 1:],)
        if out.rpn_objectness is None or out.rpn_deltas is None or out.anchors is None:
            return scores, boxes, *masks
        objectness = torch.softmax(out.rpn_objectness, dim=-1)[..., 1]
        anchors = box_convert(out.anchors.to(out.rpn_deltas.dtype), "xyxy", "cxcywh")
        proposals = clip_boxes(decode(out.rpn_deltas, anchors, (1.0, 1.0)), self.image_size)
        return scores, boxes, *masks, objectness, proposals
