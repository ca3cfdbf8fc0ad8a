"""U-Net skip pass: join encoder features onto the decoder.

The mirror pass marks each decoder node that finishes undoing a down-sampling step with
``skip_source``: the encoder feature taken just before that step. Here a ``concat`` (U-Net)
or ``add`` node is inserted right after each marked node; channel counts downstream follow
from shape inference, so the next decoder conv simply reads the wider input.
"""

from __future__ import annotations

from typing import Literal

import networkx as nx

from graphspec import infer_shapes
from graphspec.ops import Add, Concat


def add_skips(graph: nx.DiGraph, mode: Literal["concat", "add", "none"]) -> nx.DiGraph:
    """Return a copy of ``graph`` with skip connections of the given ``mode``."""
    if mode == "none":
        return graph
    graph = graph.copy()
    marked = [(n, d["skip_source"]) for n, d in graph.nodes(data=True) if "skip_source" in d]
    for node, source in marked:
        name = f"skip_{source}"
        op = Concat() if mode == "concat" else Add()
        data = graph.nodes[node]
        graph.add_node(name, op=op, role="decoder", stage=data["stage"], loc=data["loc"])
        for _, succ, edge in list(graph.out_edges(node, data=True)):
            graph.remove_edge(node, succ)
            graph.add_edge(name, succ, **edge)
        graph.add_edge(node, name, port=0)
        graph.add_edge(source, name, port=1)
        if graph.graph["output"] == node:
            graph.graph["output"] = name
    return infer_shapes(graph)
