"""The ops of a two-stage head: proposal sources and the RoI ops (IR only).

A proposal node's value is a list of boxes per image, whose length depends on the data;
its inferred shape is the *stated* count ``(rois, 4)``: the RoIs per image the FLOPs and
the summary are stated at. An RoI op reads ``[feature map, proposals]`` and its shape is
one RoI's, ``(C, PH, PW)``; it and every node after it run once per RoI (``Node.per_roi``),
so a graph's totals count them ``rois`` times (:func:`graphspec.budget.totals`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from graphspec.ops.base import Op, Pair, Shape, ShapeError, _spatial


def _proposal_shape(inputs: list[Shape], what: str) -> None:
    if len(inputs) != 2 or len(inputs[1]) != 2 or inputs[1][1] != 4:
        raise ShapeError(f"{what} reads a feature map and proposals (expected [rois, 4] boxes)")


class RPNProposals(Op):
    """Faster R-CNN's proposal layer: the RPN's objectness ``[A, 2]`` and deltas
    ``[A, 4]`` rows decoded on ``A`` anchors (``sizes`` x ``ratios`` at each position of a
    ``feature`` map with ``stride``), clipped to ``image``, ``min_size`` filtered, the
    best ``pre_nms`` through NMS at ``nms``, ``post_nms`` kept (``train_*`` in training)."""

    arity: ClassVar[int | None] = 2
    in_spec: ClassVar[bool] = False
    op: Literal["rpn_proposals"] = "rpn_proposals"
    sizes: tuple[float, ...]
    ratios: tuple[float, ...]
    stride: tuple[float, float]
    feature: Pair
    image: Pair
    pre_nms: int
    post_nms: int
    train_pre_nms: int
    train_post_nms: int
    nms: float
    min_size: float

    def infer(self, inputs: list[Shape]) -> Shape:
        anchors = self.feature[0] * self.feature[1] * len(self.sizes) * len(self.ratios)
        if inputs != [(anchors, 2), (anchors, 4)]:
            raise ShapeError(
                f"rpn_proposals needs {anchors} objectness and delta rows "
                f"(expected [{anchors}, 2] and [{anchors}, 4], got {inputs})"
            )
        return (self.post_nms, 4)


class WindowProposals(Op):
    """The built-in proposal rule, computed from the image (see
    ``compiler.detection.window_proposals``): at most ``count`` boxes per image."""

    in_spec: ClassVar[bool] = False
    op: Literal["window_proposals"] = "window_proposals"
    count: int
    nms: float

    def infer(self, inputs: list[Shape]) -> Shape:
        _spatial(inputs[0], self.op)
        return (self.count, 4)


class GivenProposals(Op):
    """Proposals the network is given with the images (precomputed, from files): at most
    ``count`` boxes per image."""

    in_spec: ClassVar[bool] = False
    op: Literal["given_proposals"] = "given_proposals"
    count: int

    def infer(self, inputs: list[Shape]) -> Shape:
        _spatial(inputs[0], self.op)
        return (self.count, 4)


class RoIPool(Op):
    """Fast R-CNN's RoI max pooling to ``output`` bins; ``spatial_scale`` is the inverse
    of the source map's inferred stride. Max comparisons count zero FLOPs."""

    arity: ClassVar[int | None] = 2
    in_spec: ClassVar[bool] = False
    restarts_field: ClassVar[bool] = True
    op: Literal["roi_pool"] = "roi_pool"
    output: Pair
    spatial_scale: float

    def infer(self, inputs: list[Shape]) -> Shape:
        _proposal_shape(inputs, self.op)
        c, _, _ = _spatial(inputs[0], self.op)
        return (c, *self.output)


class RoIAlign(RoIPool):
    """RoIAlign (Mask R-CNN) to ``output`` bins, torchvision's ``sampling_ratio`` and
    ``aligned``. Its FLOPs are the two matrix products of ``compiler.ops.roi_align``
    for one RoI of a one-image batch (what ``FlopCounterMode`` counts there)."""

    op: Literal["roi_align"] = "roi_align"  # type: ignore[assignment]
    sampling_ratio: int = -1
    aligned: bool = False

    def flops(self, inputs: list[Shape], out: Shape) -> int:
        c, height, width = inputs[0]
        pooled_h, pooled_w = self.output
        if pooled_h * width <= pooled_w * height:  # rows first, as compiler.ops.roi_align
            return 2 * c * (pooled_h * height * width + pooled_h * width * pooled_w)
        return 2 * c * (pooled_w * width * height + pooled_w * height * pooled_h)
