"""Head pass: turn the last feature map into the task's output.

* ``segmentation``: a 1x1 conv to ``classes`` logits; when the map is smaller than the
  input (no decoder, e.g. FCN-32s), a bilinear resize brings it to the input's exact size.
* ``fcn``: FCN-16s/8s: score the final map and each named ``skips`` feature with 1x1 convs,
  and fuse them coarse-to-fine by resize + add before the final resize (Long et al.).
* ``classification`` or no head: the encoder output is the result.
"""

from __future__ import annotations

import networkx as nx

from graphspec import SpecError, infer_shapes
from graphspec.ops import Add, Conv, Upsample
from graphspec.schema import Spec


def append_head_node(graph: nx.DiGraph, name: str, op, inputs: list[str], loc) -> str:
    """Add a head node reading ``inputs`` in port order (shapes are inferred by the caller)."""
    graph.add_node(name, op=op, role="head", stage="head", loc=loc)
    for port, src in enumerate(inputs):
        graph.add_edge(src, name, port=port)
    return name


def add_head(graph: nx.DiGraph, spec: Spec) -> nx.DiGraph:
    """Return a copy of ``graph`` with the spec's head appended."""
    head = spec.head
    if head is None or head.type == "classification":
        return graph
    graph = graph.copy()
    loc = spec.source.locate(("head",))
    size = (spec.input.height, spec.input.width)
    out = graph.graph["output"]
    current = append_head_node(graph, "head", Conv(out=spec.classes, kernel=1), [out], loc)
    infer_shapes(graph)
    for i, skip in enumerate(getattr(head, "skips", [])):
        if skip not in graph or graph.nodes[skip]["role"] != "encoder":
            raise SpecError.at(
                spec.source.locate(("head", "skips", i)),
                f"unknown layer name '{skip}' (expected the name of an encoder layer)",
            )
        skip_size = tuple(graph.nodes[skip]["shape"][1:])
        up = append_head_node(graph, f"head_up{i}", Upsample(size=skip_size), [current], loc)
        score = append_head_node(
            graph, f"head_score_{skip}", Conv(out=spec.classes, kernel=1), [skip], loc
        )
        current = append_head_node(graph, f"head_fuse{i}", Add(), [up, score], loc)
        infer_shapes(graph)
    if tuple(graph.nodes[current]["shape"][1:]) != size:
        current = append_head_node(graph, "head_resize", Upsample(size=size), [current], loc)
    graph.graph["output"] = current
    return infer_shapes(graph)
