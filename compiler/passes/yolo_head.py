"""YOLOv1 head pass (Redmon et al. 2016): the encoder ends in FC layers whose output is
read as an ``S x S x (B*5 + C)`` grid of box and class predictions per cell."""

from __future__ import annotations

from compiler.passes.append import append_node
from graphspec import DetectionHead, Graph, Spec, SpecError
from graphspec.ops import Reshape
from graphspec.schema import YOLOHead


def add_yolo_head(graph: Graph, spec: Spec) -> Graph:
    """Return a copy of ``graph`` whose output vector is reshaped to the YOLO grid."""
    head = spec.head
    if not isinstance(head, YOLOHead):
        return graph
    shape = graph[graph.output].shape
    cells = head.grid * head.grid * (head.boxes * 5 + spec.classes)
    loc = spec.source.locate(("head",))
    if len(shape) != 1 or shape[0] != cells:
        raise SpecError.at(
            loc,
            f"YOLO head needs the encoder to "
            f"end in a vector of S*S*(B*5+C) = {cells} values (expected {cells}, "
            f"got {'x'.join(map(str, shape))})",
        )
    graph = graph.copy()
    grid = (head.grid, head.grid, head.boxes * 5 + spec.classes)
    append_node(
        graph, "yolo_grid", Reshape(shape=grid), [graph.output], role="head", loc=loc, stage="head"
    )
    graph.output = "yolo_grid"
    graph.detection = DetectionHead(
        type="yolo", num_classes=spec.classes, grid=head.grid, boxes=head.boxes
    )
    return graph
