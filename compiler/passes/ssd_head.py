"""Detection head passes: SSD multi-box and YOLOv1 grid.

SSD (Liu et al. 2016): on each named source map a 3x3 conv predicts ``boxes x (classes+1)``
class scores (index 0 is background) and a 3x3 conv predicts ``boxes x 4`` offsets per
cell; rows of all maps are concatenated, so the network returns ``(scores [N, A, C+1],
offsets [N, A, 4])`` for ``A`` default boxes. The count ``A`` follows from the inferred map
sizes and is stored as the graph attribute ``default_boxes``.

YOLOv1 (Redmon et al. 2016): the encoder ends in FC layers whose output is reshaped to an
``S x S x (B*5 + C)`` grid.
"""

from __future__ import annotations

import networkx as nx

from compiler.anchors import boxes_per_cell
from compiler.heads import append_head_node
from graphspec import SpecError, infer_shapes
from graphspec.ir_ops import AnchorRows, ConcatRows, L2Norm, Reshape
from graphspec.ops import Conv
from graphspec.schema import Spec, SSDHead, YOLOHead


def add_ssd_head(graph: nx.DiGraph, spec: Spec) -> nx.DiGraph:
    head = spec.head
    assert isinstance(head, SSDHead)
    graph = graph.copy()
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
    for i, name in enumerate(head.l2norm):
        if name not in head.sources:
            raise SpecError.at(
                src.locate(("head", "l2norm", i)),
                f"l2norm names '{name}', "
                f"which is not a source (expected one of: "
                f"{', '.join(head.sources)})",
            )
    for i, name in enumerate([*head.sources, *head.l2norm]):
        key = (
            ("head", "sources", i)
            if i < len(head.sources)
            else ("head", "l2norm", i - len(head.sources))
        )
        if name not in graph or graph.nodes[name]["role"] != "encoder":
            raise SpecError.at(
                src.locate(key),
                f"unknown layer name '{name}' (expected the name of an encoder layer)",
            )
        if len(graph.nodes[name]["shape"]) != 3:
            raise SpecError.at(
                src.locate(key),
                f"source '{name}' is not a feature map "
                f"(expected C x H x W, got {graph.nodes[name]['shape']})",
            )
    loc = src.locate(("head",))
    classes = spec.classes + 1  # + background
    cls_rows, box_rows, sizes = [], [], []
    for name, ratios in zip(head.sources, head.anchors.aspect_ratios, strict=True):
        feature = name
        if name in head.l2norm:
            feature = append_head_node(graph, f"ssd_l2norm_{name}", L2Norm(), [name], loc)
        k = boxes_per_cell(ratios)
        cls = append_head_node(
            graph, f"ssd_cls_{name}", Conv(out=k * classes, kernel=3, padding=1), [feature], loc
        )
        box = append_head_node(
            graph, f"ssd_box_{name}", Conv(out=k * 4, kernel=3, padding=1), [feature], loc
        )
        cls_rows.append(
            append_head_node(graph, f"{cls}_rows", AnchorRows(values=classes), [cls], loc)
        )
        box_rows.append(append_head_node(graph, f"{box}_rows", AnchorRows(values=4), [box], loc))
        sizes.append(tuple(graph.nodes[name]["shape"][1:]))
    append_head_node(graph, "ssd_scores", ConcatRows(), cls_rows, loc)
    append_head_node(graph, "ssd_offsets", ConcatRows(), box_rows, loc)
    infer_shapes(graph)
    _prune_unused(graph, keep=["ssd_scores", "ssd_offsets"])
    graph.graph["outputs"] = ["ssd_scores", "ssd_offsets"]
    graph.graph["output"] = "ssd_scores"
    graph.graph["default_boxes"] = graph.nodes["ssd_scores"]["shape"][0]
    graph.graph["detection"] = {
        "type": "ssd",
        "feature_sizes": sizes,
        "num_classes": spec.classes,
        "min_scale": head.anchors.min_scale,
        "max_scale": head.anchors.max_scale,
        "aspect_ratios": [list(r) for r in head.anchors.aspect_ratios],
    }
    return graph


def _prune_unused(graph: nx.DiGraph, keep: list[str]) -> None:
    """Drop encoder layers no output depends on (e.g. a classifier after the sources)."""
    needed = set(keep)
    for node in keep:
        needed |= nx.ancestors(graph, node)
    graph.remove_nodes_from([n for n in list(graph.nodes) if n not in needed])


def add_yolo_head(graph: nx.DiGraph, spec: Spec) -> nx.DiGraph:
    head = spec.head
    assert isinstance(head, YOLOHead)
    graph = graph.copy()
    out = graph.graph["output"]
    shape = graph.nodes[out]["shape"]
    cells = head.grid * head.grid * (head.boxes * 5 + spec.classes)
    if len(shape) != 1 or shape[0] != cells:
        raise SpecError.at(
            spec.source.locate(("head",)),
            f"YOLO head needs the encoder to "
            f"end in a vector of S*S*(B*5+C) = {cells} values (expected {cells}, "
            f"got {'x'.join(map(str, shape))})",
        )
    grid = (head.grid, head.grid, head.boxes * 5 + spec.classes)
    append_head_node(graph, "yolo_grid", Reshape(shape=grid), [out], spec.source.locate(("head",)))
    graph.graph["output"] = "yolo_grid"
    graph.graph["detection"] = {
        "type": "yolo",
        "grid": head.grid,
        "boxes": head.boxes,
        "num_classes": spec.classes,
    }
    return infer_shapes(graph)
