"""The one constructor of a compiled network: :class:`GraphNet`, or
:class:`~compiler.emit.two_stage.TwoStageNet` for a graph with a two-stage head."""

from __future__ import annotations

from compiler.emit.graphnet import GraphNet
from compiler.emit.two_stage import TwoStageNet, two_stage_layout
from graphspec import Graph

__all__ = ["build_network"]


def build_network(graph: Graph) -> GraphNet:
    """The module that runs ``graph``: every caller (compile, bench, predict, export)
    builds it here, so a two-stage graph always gets its proposal and sampling steps."""
    if two_stage_layout(graph) is not None:
        return TwoStageNet(graph)
    return GraphNet(graph)
