"""U-Net skip pass: join encoder features onto the decoder.

The mirror pass marks each decoder node that finishes undoing a down-sampling step with
``skip_source``: the encoder feature taken just before that step. Here a ``concat`` (U-Net)
or ``add`` node is inserted right after each marked node; channel counts downstream follow
from shape inference (of the joins and what they change downstream, not the whole graph),
so the next decoder conv simply reads the wider input.
"""

from __future__ import annotations

from graphspec import Graph, Node, Spec
from graphspec.ops import Add, Concat
from graphspec.shapes import infer_changed


def add_skips(graph: Graph, spec: Spec) -> Graph:
    """Return a copy of ``graph`` with the skip connections ``spec.decoder.skips`` asks for."""
    mode = spec.decoder.skips if spec.decoder is not None else "none"
    if mode == "none":
        return graph
    graph = graph.copy()
    marked = [node for node in graph if node.skip_source is not None]
    added: list[str] = []
    for node in marked:
        assert node.skip_source is not None
        op = Concat() if mode == "concat" else Add()
        skip = Node(f"skip_{node.skip_source}", op, "decoder", node.loc, stage=node.stage)
        graph.add(skip)
        graph.reroute_consumers(node.name, skip.name)
        graph.connect(node.name, skip.name, 0)
        graph.connect(node.skip_source, skip.name, 1)
        added.append(skip.name)
    return infer_changed(graph, added)  # the new joins, then whatever reads them
