"""The pieces :mod:`compiler.passes.rcnn_head` assembles: the RPN, the RoI op, the box
head's layers and the two predictors, each checked at its spec key."""

from __future__ import annotations

from collections.abc import Sequence

from compiler.passes.append import append_node
from graphspec import Graph, Node, Spec, SpecError
from graphspec.ops import (
    AnchorRows,
    Conv,
    Flatten,
    Linear,
    Op,
    ReLU,
    RoIAlign,
    RoIPool,
    RPNProposals,
)
from graphspec.ops.names import name_problem
from graphspec.rcnn_schema import RCNNHead, RoI
from graphspec.rcnn_schema import RPNProposals as RPNSettings

SCORES = "cls_score"
DELTAS = "bbox_pred"
MASK_ROI = "mask_roi"
MASK_LOGITS = "mask_logits"


def check_map(graph: Graph, spec: Spec, name: str, key: tuple[str | int, ...]) -> str:
    """``name`` is an encoder feature map with one stride both ways; return it."""
    loc = spec.source.locate(key)
    if name not in graph or graph[name].role != "encoder":
        raise SpecError.at(
            loc, f"unknown layer name '{name}' (expected the name of an encoder layer)"
        )
    node = graph[name]
    if len(node.shape) != 3 or node.jump is None:
        raise SpecError.at(
            loc,
            f"'{name}' is not a feature map of the image (expected C x H x W, got "
            f"{'x'.join(map(str, node.shape))})",
        )
    if node.jump[0] != node.jump[1]:
        raise SpecError.at(
            loc,
            f"'{name}' has strides {node.jump[0]} x {node.jump[1]} (expected the same stride "
            "both ways: an RoI op has one spatial scale)",
        )
    return name


def roi_op(roi: RoI, source: Node, spec: Spec, key: tuple[str, ...] = ("head", "roi")) -> Op:
    """The RoI op on ``source``: its spatial scale is the inverse of the map's stride
    (1/16 at VGG-16's conv5_3), never a spec key."""
    assert source.jump is not None
    scale = float(1 / source.jump[0])
    if roi.op == "roi_pool":
        if roi.sampling_ratio != -1 or roi.aligned:
            field = "sampling_ratio" if roi.sampling_ratio != -1 else "aligned"
            raise SpecError.at(
                spec.source.locate((*key, field)),
                "sampling_ratio and aligned are RoIAlign settings (expected op: roi_align, "
                "or neither key)",
            )
        return RoIPool(output=roi.output, spatial_scale=scale)
    return RoIAlign(
        output=roi.output,
        spatial_scale=scale,
        sampling_ratio=roi.sampling_ratio,
        aligned=roi.aligned,
    )


def add_rpn(graph: Graph, spec: Spec, rpn: RPNSettings, proposals: str) -> None:
    """Faster R-CNN's RPN on ``rpn.from``: 3x3 conv + ReLU, 1x1 objectness (2 a anchor)
    and deltas (4 an anchor), their anchor rows, and the proposal node."""
    source = check_map(graph, spec, rpn.from_, ("head", "proposals", "from"))
    loc = spec.source.locate(("head", "proposals"))
    per_position = len(rpn.anchors.sizes) * len(rpn.anchors.ratios)
    _taken(graph, spec, ["rpn_conv", "rpn_relu", "rpn_cls_score", "rpn_bbox_pred"])

    def add(name: str, op: Op, inputs: list[str]) -> str:
        return append_node(graph, name, op, inputs, role="head", loc=loc, stage="head").name

    add("rpn_conv", Conv(out=rpn.conv, kernel=3, padding=1), [source])
    add("rpn_relu", ReLU(), ["rpn_conv"])
    add("rpn_cls_score", Conv(out=2 * per_position, kernel=1), ["rpn_relu"])
    add("rpn_bbox_pred", Conv(out=4 * per_position, kernel=1), ["rpn_relu"])
    add("rpn_cls_rows", AnchorRows(values=2), ["rpn_cls_score"])
    add("rpn_bbox_rows", AnchorRows(values=4), ["rpn_bbox_pred"])
    node = graph[source]
    assert node.jump is not None
    op = RPNProposals(
        sizes=tuple(rpn.anchors.sizes),
        ratios=tuple(rpn.anchors.ratios),
        stride=(float(node.jump[0]), float(node.jump[1])),
        feature=(node.shape[1], node.shape[2]),
        image=(spec.input.height, spec.input.width),
        pre_nms=rpn.test.pre_nms,
        post_nms=rpn.test.post_nms,
        train_pre_nms=rpn.train.pre_nms,
        train_post_nms=rpn.train.post_nms,
        nms=rpn.nms,
        min_size=rpn.min_size,
    )
    add(proposals, op, ["rpn_cls_rows", "rpn_bbox_rows"])


def _taken(graph: Graph, spec: Spec, names: Sequence[str]) -> None:
    """Refuse an encoder layer that already uses a name the head gives its own layers."""
    for name in names:
        if name in graph:
            raise SpecError.at(
                graph[name].loc,
                f"layer name '{name}' is the name of a layer the rcnn head adds (expected "
                "another name)",
            )


def add_layers(
    graph: Graph, spec: Spec, layers: Sequence[Op], key: tuple[str, ...], features: str
) -> str:
    """A head's ordinary ``layers`` (spec key ``key``: ``box_head``, the mask branch's
    ``layers``) in sequence after ``features``; returns the last. Unnamed layers are
    ``box_<op><i>`` / ``mask_<op><i>``."""
    previous = features
    what = "box_head layers" if key[-1] == "box_head" else "mask layers"
    prefix = "mask" if key[-1] == "layers" else "box"
    for index, layer in enumerate(layers):
        loc = spec.source.locate((*key, index))
        if layer.inputs_named() or layer.arity != 1:
            raise SpecError.at(
                loc,
                f"{what} run in sequence (expected a one-input layer without "
                f"`from`, got {layer.op})",
            )
        name = layer.name or f"{prefix}_{layer.op}{index}"
        problem = name_problem(name) if layer.name else None
        if problem or name in graph:
            why = problem or "it is already used"
            raise SpecError.at(loc, f"layer name '{name}': {why} (expected another name)")
        if getattr(layer, "out", None) == "classes":
            layer = layer.model_copy(update={"out": spec.classes})
        append_node(graph, name, layer, [previous], role="head", loc=loc, stage=prefix)
        previous = name
    return previous


def add_mask_branch(graph: Graph, spec: Spec, head: RCNNHead, proposals: str) -> str:
    """Mask R-CNN's branch: RoIAlign ``mask_roi`` on ``mask.roi.from``, the branch's
    layers, ``mask_logits`` (a 1x1 conv to classes + background maps); returns it."""
    assert head.mask is not None
    _taken(graph, spec, [MASK_ROI, MASK_LOGITS])
    roi = head.mask.roi
    source = check_map(graph, spec, roi.from_, ("head", "mask", "roi", "from"))
    op = roi_op(roi, graph[source], spec, ("head", "mask", "roi"))
    loc = spec.source.locate(("head", "mask"))
    append_node(graph, MASK_ROI, op, [source, proposals], role="head", loc=loc, stage="mask")
    last = add_layers(graph, spec, head.mask.layers, ("head", "mask", "layers"), MASK_ROI)
    if len(graph[last].shape) != 3:
        raise SpecError.at(
            loc,
            f"the mask branch must end in maps (expected C x H x W, got "
            f"{'x'.join(map(str, graph[last].shape))}): no flatten or linear",
        )
    logits = Conv(out=spec.classes + 1, kernel=1)
    append_node(graph, MASK_LOGITS, logits, [last], role="head", loc=loc, stage="mask")
    return MASK_LOGITS


def add_predictors(graph: Graph, spec: Spec, head: RCNNHead, features: str) -> tuple[str, str]:
    """``cls_score`` (classes + background) and ``bbox_pred`` (4 per class, background
    included as in the published nets, or 4) on the box head's flattened features."""
    loc = spec.source.locate(("head",))
    _taken(graph, spec, [SCORES, DELTAS, "box_flatten"])
    if len(graph[features].shape) != 1:
        append_node(graph, "box_flatten", Flatten(), [features], role="head", loc=loc)
        features = "box_flatten"
    classes = spec.classes + 1
    deltas = 4 if head.class_agnostic else 4 * classes
    append_node(graph, SCORES, Linear(out=classes), [features], role="head", loc=loc)
    append_node(graph, DELTAS, Linear(out=deltas), [features], role="head", loc=loc)
    return SCORES, DELTAS


def mark_per_roi(graph: Graph, roi: str) -> frozenset[str]:
    """Mark the RoI op and every node that depends on it as running once per RoI; return
    their names."""
    todo, marked = [roi], set()
    while todo:
        node = graph[todo.pop()]
        if node.name not in marked:
            node.per_roi = True
            marked.add(node.name)
            todo.extend(graph.consumers(node.name))
    return frozenset(marked)
