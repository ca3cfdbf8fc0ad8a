"""Two-stage head pass (R-CNN, Fast R-CNN, Faster R-CNN): proposals, an RoI op, a box head.

``mode: roi``: a proposal node (an RPN on ``proposals.from``, or the built-in window rule
on the image), an RoI op on ``roi.from`` whose spatial scale is the inverse of that map's
inferred stride, the spec's ``box_head`` layers, then ``cls_score`` (classes +
background) and ``bbox_pred``. ``mode: crop``: the graph was built at the crop size
(:func:`build_spec`); the pass puts the image in front, proposals on it and a bilinear
warp of each proposal to the crop (RoIAlign, aligned, 2x2 samples a bin), so the whole
encoder runs per RoI. Every node from the RoI op on is marked ``per_roi``.
"""

from __future__ import annotations

from compiler.passes.append import append_node
from compiler.passes.rcnn_parts import (
    MASK_ROI,
    add_layers,
    add_mask_branch,
    add_predictors,
    add_rpn,
    check_map,
    mark_per_roi,
    roi_op,
)
from graphspec import (
    INPUT,
    DetectionHead,
    Graph,
    Node,
    SourceLocation,
    Spec,
    SpecError,
    infer_node,
)
from graphspec.ir import TwoStageLayout
from graphspec.ops import GivenProposals, Input, RoIAlign, WindowProposals
from graphspec.rcnn_schema import BuiltinProposals, FileProposals, RCNNHead, RPNProposals

PROPOSALS = "proposals"
ROI = "roi"


def build_spec(spec: Spec) -> Spec:
    """The spec the encoder graph is built from: in crop mode the encoder runs on crops,
    so it is built at the crop size; otherwise the spec itself."""
    head = spec.head
    if isinstance(head, RCNNHead) and head.mode == "crop" and head.crop is not None:
        return spec.with_input_size(head.crop)
    return spec


def add_rcnn_head(graph: Graph, spec: Spec) -> Graph:
    """Return a copy of ``graph`` with the spec's two-stage head (see the module doc)."""
    head = spec.head
    if not isinstance(head, RCNNHead):
        return graph
    _check_mode(spec, head)
    graph = graph.copy()
    if head.mode == "roi":
        features = _add_roi_mode(graph, spec, head)
    else:
        features = _add_crop_mode(graph, spec, head)
    features = add_layers(graph, spec, head.box_head, ("head", "box_head"), features)
    scores, deltas = add_predictors(graph, spec, head, features)
    masks = add_mask_branch(graph, spec, head, PROPOSALS) if head.mask is not None else None
    rpn = ("rpn_cls_rows", "rpn_bbox_rows") if isinstance(head.proposals, RPNProposals) else None
    graph.outputs = (scores, deltas, *(rpn or ()), *((masks,) if masks else ()))
    graph.output = scores
    graph.keep_only(graph.ancestors(graph.outputs))
    mark_per_roi(graph, ROI)
    mask_branch = mark_per_roi(graph, MASK_ROI) if masks else frozenset()
    rois = head.proposals.test.post_nms if rpn else head.proposals.count  # type: ignore[union-attr]
    layout = TwoStageLayout(
        mode=head.mode,
        proposals=PROPOSALS,
        roi=ROI,
        scores=scores,
        deltas=deltas,
        rois=rois,
        train_rois=head.sampling.rois,
        head=head,
        rpn=rpn,
        anchors=graph[rpn[0]].shape[0] if rpn else 0,
        masks=masks,
        mask_branch=mask_branch,
        mask_rois=head.test.max_boxes if masks else 0,
    )
    graph.detection = DetectionHead(type="rcnn", num_classes=spec.classes, two_stage=layout)
    return graph


def _check_mode(spec: Spec, head: RCNNHead) -> None:
    """``roi`` needs ``roi`` and no ``crop``; ``crop`` needs ``crop``, no ``roi``, and
    proposals that do not come from a feature map (an RPN reads one). A mask branch and
    ``task: instance`` go together, in mode roi."""
    src = spec.source
    _check_mask(spec, head)
    if head.mode == "roi":
        if head.roi is None:
            raise SpecError.at(
                src.locate(("head", "mode")),
                "mode roi needs a `roi` section (expected e.g. roi: {op: roi_pool, from: "
                "conv5_3, output: 7})",
            )
        if head.crop is not None:
            raise SpecError.at(
                src.locate(("head", "crop")),
                "crop is for mode crop (R-CNN) only (expected no crop with mode roi)",
            )
        return
    if head.crop is None:
        raise SpecError.at(
            src.locate(("head", "mode")),
            "mode crop needs `crop` (expected the [height, width] each proposal is warped to)",
        )
    if head.roi is not None:
        raise SpecError.at(
            src.locate(("head", "roi")),
            "roi is for mode roi only (expected no roi with mode crop: proposals are "
            "cropped from the image)",
        )
    if isinstance(head.proposals, RPNProposals):
        raise SpecError.at(
            src.locate(("head", "proposals", "source")),
            "an RPN reads a feature map of the whole image, which mode crop never computes "
            "(expected source: builtin or file)",
        )


def _check_mask(spec: Spec, head: RCNNHead) -> None:
    src = spec.source
    if head.mask is not None and spec.task != "instance":
        raise SpecError.at(
            src.locate(("head", "mask")),
            f"a mask branch makes an instance segmenter (expected task: instance, got "
            f"task: {spec.task})",
        )
    if head.mask is None and spec.task == "instance":
        raise SpecError.at(
            src.locate(("task",)),
            "task instance needs a mask branch (expected head.mask: {roi: {from: MAP}, "
            "layers: [...]})",
        )
    if head.mask is not None and head.mode == "crop":
        raise SpecError.at(
            src.locate(("head", "mask")),
            "a mask branch pools from a feature map of the whole image, which mode crop "
            "never computes (expected mode: roi)",
        )


def _add_roi_mode(graph: Graph, spec: Spec, head: RCNNHead) -> str:
    """Proposals and the RoI op; returns the RoI node."""
    assert head.roi is not None
    loc = spec.source.locate(("head", "proposals"))
    if isinstance(head.proposals, RPNProposals):
        add_rpn(graph, spec, head.proposals, PROPOSALS)
    else:
        _add_image_proposals(graph, head.proposals, loc)
    source = check_map(graph, spec, head.roi.from_, ("head", "roi", "from"))
    op = roi_op(head.roi, graph[source], spec)
    node = append_node(
        graph, ROI, op, [source, PROPOSALS], role="head", loc=spec.source.locate(("head", "roi"))
    )
    node.stage = "head"
    return ROI


def _add_image_proposals(
    graph: Graph, proposals: BuiltinProposals | FileProposals, loc: SourceLocation
) -> None:
    """The proposal node of a source that needs only the image: the built-in rule, or
    the proposals the network is given (files)."""
    if isinstance(proposals, BuiltinProposals):
        op: WindowProposals | GivenProposals = WindowProposals(
            count=proposals.count, nms=proposals.nms
        )
    else:
        op = GivenProposals(count=proposals.count)
    append_node(graph, PROPOSALS, op, [INPUT], role="head", loc=loc, stage="head")


def _add_crop_mode(graph: Graph, spec: Spec, head: RCNNHead) -> str:
    """Image -> proposals -> warp of each to the crop size -> the encoder (built at the
    crop size, reading the warp instead of the image); returns the encoder's output."""
    assert head.crop is not None and not isinstance(head.proposals, RPNProposals)
    loc = spec.source.locate(("head", "crop"))
    warp = RoIAlign(output=head.crop, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    graph.add(Node(ROI, warp, "head", loc, stage="head"), [INPUT])
    graph.reroute_consumers(INPUT, ROI)
    image = Input(channels=spec.input.channels, height=spec.input.height, width=spec.input.width)
    graph[INPUT].op = image
    infer_node(graph, INPUT)
    _add_image_proposals(graph, head.proposals, spec.source.locate(("head", "proposals")))
    graph.connect(PROPOSALS, ROI, 1)
    infer_node(graph, ROI)
    return graph.output
