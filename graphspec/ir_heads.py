"""What a head pass records on a graph for emission and the harness to read: the one
source of a detector's layout (loss, decoding and mAP read it from here, never from the
spec again)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from graphspec.schema import Anchors, RCNNHead

__all__ = ["DetectionHead", "TwoStageLayout"]


@dataclass(frozen=True)
class TwoStageLayout:
    """What the ``rcnn`` head pass tells emission and the harness about the second stage:
    node names, the stated RoI counts and the settings of the spec's head."""

    mode: Literal["roi", "crop"]
    proposals: str
    """The proposal node (its op says the source)."""
    roi: str
    """The RoI op node (``roi_pool`` / ``roi_align``; in crop mode a bilinear warp)."""
    scores: str
    deltas: str
    """The class-score and box-delta nodes (per RoI)."""
    rois: int
    """RoIs per image at test time: the count FLOPs and latency are stated at."""
    train_rois: int
    """RoIs per training image (``sampling.rois``): the memory estimate's count."""
    head: RCNNHead
    """The spec's head: sampling, loss and test settings."""
    rpn: tuple[str, str] | None = None
    """The RPN's objectness and delta row nodes, when proposals come from an RPN."""
    anchors: int = 0
    """Anchors of the RPN (``H x W x sizes x ratios``), as SSD's default boxes."""
    masks: str | None = None
    """The mask logits node (Mask R-CNN's branch), None without one."""
    mask_branch: frozenset[str] = frozenset()
    """The mask branch's nodes: they run on the detections (``mask_rois`` per image)."""
    mask_rois: int = 0
    """Detections per image the mask branch runs on at test time (``test.max_boxes``)."""

    def rois_of(self, name: str) -> int:
        """How many times per image the per-RoI node ``name`` runs at test time."""
        return self.mask_rois if name in self.mask_branch else self.rois


@dataclass(frozen=True)
class DetectionHead:
    """What a detection head pass tells the harness: the one source of the anchor layout
    (loss, decoding and mAP read it from here, never from the spec again)."""

    type: Literal["ssd", "yolo", "rcnn"]
    num_classes: int
    """Object classes, background excluded."""
    feature_sizes: tuple[tuple[int, int], ...] = ()
    """SSD: (H, W) of each source map, in head order."""
    anchors: Anchors | None = None
    """SSD: scales and aspect ratios of the default boxes."""
    default_boxes: int = 0
    """SSD: rows of the ``scores`` / ``offsets`` outputs."""
    grid: int = 0
    """YOLO: cells per side (S)."""
    boxes: int = 0
    """YOLO: boxes per cell (B)."""
    two_stage: TwoStageLayout | None = None
    """R-CNN: the second stage's layout."""
