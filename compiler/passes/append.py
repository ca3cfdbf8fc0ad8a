"""The one way passes add nodes: place a node, wire it, infer it at once.

Inferring each new node as it is appended (its inputs are already known) is what keeps a
compile from re-running shape inference over the whole graph after every pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphspec import Graph, Node, SourceLocation, infer_node
from graphspec.ir import Role
from graphspec.ops import Op


def append_node(
    graph: Graph,
    name: str,
    op: Op,
    inputs: Sequence[str],
    *,
    role: Role,
    loc: SourceLocation,
    stage: str | None = None,
) -> Node:
    """Add ``name`` reading ``inputs`` (port order) and infer its shape and cost."""
    graph.add(Node(name, op, role, loc, stage=stage), inputs)
    return infer_node(graph, name)
