"""SSD head pass (Liu et al. 2016): multi-box predictions on several encoder maps.

On each named source map a 3x3 conv predicts ``boxes x (classes+1)`` class scores (index 0
is background) and a 3x3 conv predicts ``boxes x 4`` offsets per cell; the rows of all maps
are concatenated, so the network returns ``(scores [N, A, C+1], offsets [N, A, 4])`` for
``A`` default boxes. ``A`` and the anchor layout follow from the inferred map sizes and
are recorded once, as the graph's :class:`~graphspec.DetectionHead`.
"""

from __future__ import annotations

from compiler.detection.cells import boxes_per_cell
from compiler.passes.append import append_node
from graphspec import DetectionHead, Graph, SourceLocation, Spec, SpecError
from graphspec.ops import AnchorRows, ConcatRows, Conv, L2Norm, Op
from graphspec.schema import SSDHead

OUTPUTS = ("ssd_scores", "ssd_offsets")


def add_ssd_head(graph: Graph, spec: Spec) -> Graph:
    """Return a copy of ``graph`` with SSD class and box predictors on the source maps;
    encoder layers no output depends on (a classifier after the sources) are dropped."""
    head = spec.head
    if not isinstance(head, SSDHead):
        return graph
    _check_sources(graph, spec, head)
    graph = graph.copy()
    loc = spec.source.locate(("head",))
    classes = spec.classes + 1  # + background
    cls_rows, box_rows = [], []
    for name, ratios in zip(head.sources, head.anchors.aspect_ratios, strict=True):
        feature = name
        if name in head.l2norm:
            feature = _head(graph, f"ssd_l2norm_{name}", L2Norm(), [name], loc)
        k = boxes_per_cell(ratios)
        cls = _head(
            graph, f"ssd_cls_{name}", Conv(out=k * classes, kernel=3, padding=1), [feature], loc
        )
        box = _head(graph, f"ssd_box_{name}", Conv(out=k * 4, kernel=3, padding=1), [feature], loc)
        cls_rows.append(_head(graph, f"{cls}_rows", AnchorRows(values=classes), [cls], loc))
        box_rows.append(_head(graph, f"{box}_rows", AnchorRows(values=4), [box], loc))
    _head(graph, OUTPUTS[0], ConcatRows(), cls_rows, loc)
    _head(graph, OUTPUTS[1], ConcatRows(), box_rows, loc)
    graph.keep_only(graph.ancestors(OUTPUTS))
    graph.outputs = OUTPUTS
    graph.output = OUTPUTS[0]
    graph.detection = DetectionHead(
        type="ssd",
        num_classes=spec.classes,
        feature_sizes=tuple((graph[n].shape[1], graph[n].shape[2]) for n in head.sources),
        anchors=head.anchors,
        default_boxes=graph[OUTPUTS[0]].shape[0],
    )
    return graph


def _head(graph: Graph, name: str, op: Op, inputs: list[str], loc: SourceLocation) -> str:
    return append_node(graph, name, op, inputs, role="head", loc=loc, stage="head").name


def _check_sources(graph: Graph, spec: Spec, head: SSDHead) -> None:
    """Every source and l2norm name is an encoder feature map, each source once, and
    there is one aspect-ratio list per source."""
    src = spec.source
    if len(head.anchors.aspect_ratios) != len(head.sources):
        raise SpecError.at(
            src.locate(("head", "anchors", "aspect_ratios")),
            "one list of "
            f"aspect ratios per source map (expected {len(head.sources)}, got "
            f"{len(head.anchors.aspect_ratios)})",
        )
    for i, name in enumerate(head.sources):
        if name in head.sources[:i]:
            raise SpecError.at(
                src.locate(("head", "sources", i)),
                f"source '{name}' listed twice (expected each source map once)",
            )
    if head.anchors.min_scale > head.anchors.max_scale:
        raise SpecError.at(
            src.locate(("head", "anchors", "min_scale")),
            f"min_scale {head.anchors.min_scale:g} is above max_scale "
            f"{head.anchors.max_scale:g} (expected scales that grow from the first source "
            "map, the finest, to the last)",
        )
    for i, name in enumerate(head.l2norm):
        if name in head.l2norm[:i]:
            raise SpecError.at(
                src.locate(("head", "l2norm", i)),
                f"l2norm lists '{name}' twice (expected each source at most once)",
            )
        if name not in head.sources:
            raise SpecError.at(
                src.locate(("head", "l2norm", i)),
                f"l2norm names '{name}', which is not a source (expected one of: "
                f"{', '.join(head.sources)})",
            )
    keys = [("sources", i) for i in range(len(head.sources))]
    keys += [("l2norm", i) for i in range(len(head.l2norm))]
    for key, name in zip(keys, [*head.sources, *head.l2norm], strict=True):
        loc = src.locate(("head", *key))
        if name not in graph or graph[name].role != "encoder":
            raise SpecError.at(
                loc, f"unknown layer name '{name}' (expected the name of an encoder layer)"
            )
        if len(graph[name].shape) != 3:
            raise SpecError.at(
                loc,
                f"source '{name}' is not a feature map "
                f"(expected C x H x W, got {graph[name].shape})",
            )
