"""The ``rcnn`` head: two-stage detection (R-CNN, Fast R-CNN, Faster R-CNN) as spec keys.

The keys follow the order every two-stage library configures it in (mmdetection's
``rpn_head``/``roi_head``/``train_cfg``/``test_cfg``, detectron2's ``PROPOSAL_GENERATOR``,
``ROI_BOX_HEAD``): where proposals come from, how each is pooled (``roi``) or cropped
(``crop``), the per-RoI ``box_head`` layers, how RoIs are sampled for training, the loss
weights, and the test-time selection. Defaults are the published Fast/Faster R-CNN values
(docs/two-stage.md cites them). The spatial scale of the RoI op is never a key: the
compiler reads it from the source map's inferred stride.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from graphspec.ops import IDENT, Layer, PosInt, Size, Strict

Name = Annotated[str, Field(pattern=IDENT)]
Fraction01 = Annotated[float, Field(gt=0, le=1)]
IoU = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=1, le=100_000)]
PositiveFloat = Annotated[float, Field(gt=0)]


class ProposalCounts(Strict):
    """Proposals an RPN keeps per image before and after its NMS."""

    pre_nms: Count
    post_nms: Count


class RPNAnchors(Strict):
    """Anchors at every position of the RPN's map: each size (the square root of the
    area, in input pixels) at each ratio (height / width)."""

    sizes: Annotated[list[PositiveFloat], Field(min_length=1, max_length=32)]
    ratios: Annotated[list[PositiveFloat], Field(min_length=1, max_length=32)]


class RPNProposals(Strict):
    """A region proposal network (Faster R-CNN) on the encoder map ``from``: a 3x3 conv
    of ``conv`` channels + ReLU, then 1x1 convs to 2 objectness logits and 4 box deltas
    per anchor; proposals are its decoded anchors after NMS. Training samples ``batch``
    anchors per image, at most ``positive_fraction`` of them positive (IoU >=
    ``positive_iou``, or the best anchor of a ground-truth box), negatives below
    ``negative_iou``."""

    source: Literal["rpn"] = "rpn"
    from_: Name = Field(alias="from")
    conv: PosInt = 512
    anchors: RPNAnchors
    train: ProposalCounts = ProposalCounts(pre_nms=12000, post_nms=2000)
    test: ProposalCounts = ProposalCounts(pre_nms=6000, post_nms=300)
    nms: Fraction01 = 0.7
    min_size: Annotated[float, Field(ge=0)] = 0.0
    batch: Count = 256
    positive_fraction: Fraction01 = 0.5
    positive_iou: Fraction01 = 0.7
    negative_iou: IoU = 0.3
    loss_weight: PositiveFloat = 1.0


class BuiltinProposals(Strict):
    """Proposals the model computes from the image itself with the built-in window rule
    (``compiler.detection.window_proposals``): the stand-in for selective search, so the
    built-in data needs no proposal files. ``count``: the most kept per image, and the RoI
    count the FLOPs are stated at."""

    source: Literal["builtin"] = "builtin"
    count: Count = 300
    nms: Fraction01 = 0.7


class FileProposals(Strict):
    """Precomputed proposals, Fast R-CNN's convention (selective search run beforehand):
    one file per image in ``folder``, named by the image file's stem
    (``2007_000032.npy``), a float array ``[L, 4]`` of ``x1, y1, x2, y2`` boxes in that
    image's pixels, best first; the first ``count`` are used, and ``count`` is the RoI
    count the FLOPs are stated at. A relative ``folder`` starts at the spec file's folder.
    Data without image files (the built-in shapes) has no such files: use ``builtin``."""

    source: Literal["file"] = "file"
    folder: Annotated[str, Field(min_length=1, max_length=4096)]
    count: Count = 2000


Proposals = Annotated[
    RPNProposals | BuiltinProposals | FileProposals, Field(discriminator="source")
]


class RoI(Strict):
    """Fast R-CNN's RoI op: each proposal pooled from the encoder map ``from`` to
    ``output`` bins (``roi_pool``: max per bin, Fast R-CNN; ``roi_align``: bilinear
    samples, Mask R-CNN; ``sampling_ratio`` and ``aligned`` as torchvision's)."""

    op: Literal["roi_pool", "roi_align"] = "roi_pool"
    from_: Name = Field(alias="from")
    output: Size = (7, 7)
    sampling_ratio: Annotated[int, Field(ge=-1, le=64)] = -1
    aligned: bool = False


class MaskRoI(RoI):
    """The mask branch's RoIAlign: Mask R-CNN pools 14x14 bins with 2x2 samples each."""

    op: Literal["roi_pool", "roi_align"] = "roi_align"
    output: Size = (14, 14)
    sampling_ratio: Annotated[int, Field(ge=-1, le=64)] = 2


class MaskBranch(Strict):
    """Mask R-CNN's mask branch (``task: instance``): each RoI pooled by ``roi`` and run
    through ``layers`` (ordinary layers: 3x3 convs, a stride-2 transposed conv that
    doubles the size), then ``mask_logits``, a 1x1 conv to one map per class (background
    included, as the box predictors). Trained with per-pixel sigmoid cross-entropy on the
    ground-truth class's map, times ``loss_weight``; at test time it runs on the
    detections, and the detected class's map is pasted into its box and cut at
    ``threshold``."""

    roi: MaskRoI
    layers: Annotated[list[Layer], Field(max_length=1000)] = []
    loss_weight: PositiveFloat = 1.0
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5


class Sampling(Strict):
    """RoIs per training image: ``foreground_fraction`` of ``rois`` at most are
    foreground (IoU >= ``foreground_iou`` with a ground-truth box), the rest background
    (IoU in ``background_iou``, ``[lo, hi)``); the ground-truth boxes join the
    proposals first."""

    rois: Count = 64
    foreground_fraction: Fraction01 = 0.25
    foreground_iou: Fraction01 = 0.5
    background_iou: Annotated[list[IoU], Field(min_length=2, max_length=2)] = [0.1, 0.5]

    @model_validator(mode="after")
    def _ordered(self) -> Sampling:
        low, high = self.background_iou
        if low >= high:
            raise PydanticCustomError(
                "range",
                "background_iou is [lo, hi) (expected lo < hi, got [{low}, {high}])",
                {"low": low, "high": high},
            )
        if high > self.foreground_iou:
            raise PydanticCustomError(
                "range",
                "background_iou reaches {high}, above foreground_iou {fg} (expected "
                "background below foreground)",
                {"high": high, "fg": self.foreground_iou},
            )
        return self


class BoxLoss(Strict):
    """Box head loss: cross-entropy + ``box_weight`` x smooth-L1 on deltas divided by
    ``stds`` (the RPN's weight is ``proposals.loss_weight``)."""

    box_weight: PositiveFloat = 1.0
    stds: Annotated[list[PositiveFloat], Field(min_length=4, max_length=4)] = [0.1, 0.1, 0.2, 0.2]


class TestSelection(Strict):
    """Detections per image at test time: class scores above ``score``, per-class NMS at
    ``nms``, the ``max_boxes`` best."""

    __test__ = False  # not a pytest class
    score: Annotated[float, Field(ge=0, lt=1)] = 0.05
    nms: Fraction01 = 0.3
    max_boxes: Count = 100


class RCNNHead(Strict):
    """Two-stage detection. ``mode: roi`` (Fast/Faster R-CNN): the image runs through
    the encoder once and each proposal is pooled from ``roi.from`` into ``box_head``.
    ``mode: crop`` (R-CNN): each proposal is cropped from the image and warped to
    ``crop`` (height, width), and the whole encoder runs on every crop. Either way
    ``cls_score`` (classes + background) and ``bbox_pred`` (4 deltas per class, or 4 with
    ``class_agnostic``) follow."""

    type: Literal["rcnn"] = "rcnn"
    mode: Literal["roi", "crop"] = "roi"
    proposals: Proposals
    roi: RoI | None = None
    crop: Size | None = None
    box_head: Annotated[list[Layer], Field(max_length=1000)] = []
    class_agnostic: bool = False
    sampling: Sampling = Sampling()
    loss: BoxLoss = BoxLoss()
    test: TestSelection = TestSelection()
    mask: MaskBranch | None = None
