"""Segmentation head pass: turn the last feature map into per-pixel class logits.

* ``segmentation``: a 1x1 conv to ``classes`` logits; when the map is smaller than the
  input (no decoder, e.g. FCN-32s), a bilinear resize brings it to the input's exact size.
* ``fcn``: FCN-16s/8s: score the final map and each named ``skips`` feature with 1x1 convs,
  and fuse them coarse-to-fine by resize + add before the final resize (Long et al.).
* ``classification``, detection heads or no head: nothing to do here.
"""

from __future__ import annotations

from compiler.passes.append import append_node
from graphspec import Graph, SourceLocation, Spec, SpecError
from graphspec.ops import Add, Conv, Op, Upsample
from graphspec.schema import FCNHead, SegmentationHead


def add_segmentation_head(graph: Graph, spec: Spec) -> Graph:
    """Return a copy of ``graph`` ending in the spec's segmentation or FCN head."""
    head = spec.head
    if not isinstance(head, SegmentationHead | FCNHead):
        return graph
    graph = graph.copy()
    loc = spec.source.locate(("head",))
    current = _head(graph, "head", Conv(out=spec.classes, kernel=1), [graph.output], loc)
    for i, skip in enumerate(head.skips if isinstance(head, FCNHead) else []):
        if skip not in graph or graph[skip].role != "encoder":
            raise SpecError.at(
                spec.source.locate(("head", "skips", i)),
                f"unknown layer name '{skip}' (expected the name of an encoder layer)",
            )
        up = _head(graph, f"head_up{i}", Upsample(size=graph[skip].shape[1:]), [current], loc)
        score = _head(graph, f"head_score_{skip}", Conv(out=spec.classes, kernel=1), [skip], loc)
        current = _head(graph, f"head_fuse{i}", Add(), [up, score], loc)
    size = (spec.input.height, spec.input.width)
    if tuple(graph[current].shape[1:]) != size:
        current = _head(graph, "head_resize", Upsample(size=size), [current], loc)
    graph.output = current
    return graph


def _head(graph: Graph, name: str, op: Op, inputs: list[str], loc: SourceLocation) -> str:
    return append_node(graph, name, op, inputs, role="head", loc=loc, stage="head").name
