"""The wiring invariants of the graph IR, checked (:meth:`graphspec.ir.Graph.check`).

A pass that edits the adjacency maps by hand can leave an edge to a removed node, two
inputs on one port or a gap in the ports. Nothing fails there: the damage surfaces later
as a ``KeyError`` in another pass, a wrong input order in emission or, worst, a network
that runs with its inputs swapped. Checking after every pass (as ``torch.fx``'s
``Graph.lint()`` does) names the pass that broke the graph instead. The checks run over
plain dicts, so this module does not import :mod:`graphspec.ir`, and they are
O(nodes + edges) with the per-edge work in one loop: a 10,000-layer compile does not
notice them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NoReturn

__all__ = ["GraphCheckError", "check_results", "check_wiring"]

Adjacency = Mapping[str, Mapping[str, int]]


class GraphCheckError(RuntimeError):
    """The graph IR breaks one of its invariants (one line naming the node and the fault).

    Not a :class:`~graphspec.errors.SpecError`: a spec cannot wire a graph by hand, so a
    broken graph is a bug of the builder or of a pass, and the CLI reports it as an
    internal error with a way to get the traceback."""


def check_wiring(nodes: Mapping[str, object], pred: Adjacency, succ: Adjacency) -> None:
    """Every edge joins two nodes and sits in both maps with the same port, and each
    node's input ports are exactly ``0..n-1``; raise :class:`GraphCheckError` if not.

    One pass over the edges with two dict lookups each (the maps hold the same names as
    ``nodes``, checked first, so a ``KeyError`` means a stray end or a one-sided edge,
    which :func:`_missing_edge` then names)."""
    if not (nodes.keys() == pred.keys() == succ.keys()):
        _stray_names(nodes, pred, succ)
    edges = 0
    try:
        for dst, inputs in pred.items():
            for src, port in inputs.items():
                if succ[src][dst] != port:
                    raise GraphCheckError(
                        f"edge {src!r} -> {dst!r} has port {port} in the predecessor map "
                        f"but {succ[src][dst]} in the successor map"
                    )
            count = len(inputs)
            edges += count
            if count > 1 or (count == 1 and port != 0):
                _check_ports(dst, inputs.values())
    except KeyError:
        _missing_edge(nodes, pred, succ)
    if sum(map(len, succ.values())) != edges:
        _one_sided_edge(pred, succ)


def _missing_edge(nodes: Mapping[str, object], pred: Adjacency, succ: Adjacency) -> NoReturn:
    """A predecessor edge whose source is not a node or that the successor map lacks."""
    for dst, inputs in pred.items():
        for src in inputs:
            if src not in nodes:
                raise GraphCheckError(f"edge {src!r} -> {dst!r}: {src!r} is not a node")
            if dst not in succ[src]:
                raise GraphCheckError(
                    f"edge {src!r} -> {dst!r} is in the predecessor map only "
                    f"({src!r} does not list {dst!r} as a consumer)"
                )
    raise GraphCheckError("the adjacency maps disagree")


def _check_ports(name: str, ports: Iterable[int]) -> None:
    """``ports`` (of node ``name``'s inputs) must be ``0..n-1``, each once."""
    got = sorted(ports)
    expected = list(range(len(got)))
    if got == expected:
        return
    # sorted, so a repeated port sits next to itself
    twice = [a for a, b in zip(got, got[1:], strict=False) if a == b]
    if twice:
        raise GraphCheckError(f"node {name!r} input ports {got} use port {twice[0]} twice")
    raise GraphCheckError(
        f"node {name!r} input ports {got} are not contiguous (expected {expected})"
    )


def _stray_names(nodes: Mapping[str, object], pred: Adjacency, succ: Adjacency) -> NoReturn:
    """The maps and the nodes name different sets: report the first name that differs."""
    for name in nodes:
        if name not in pred or name not in succ:
            raise GraphCheckError(f"node {name!r} is missing from the adjacency maps")
    for stray in [*pred, *succ]:
        if stray in nodes:
            continue
        if pred.get(stray):
            src = next(iter(pred[stray]))
            raise GraphCheckError(f"edge {src!r} -> {stray!r}: {stray!r} is not a node")
        if succ.get(stray):
            dst = next(iter(succ[stray]))
            raise GraphCheckError(f"edge {stray!r} -> {dst!r}: {stray!r} is not a node")
        raise GraphCheckError(f"{stray!r} is in the adjacency maps but is not a node")
    raise GraphCheckError("the adjacency maps and the nodes name different sets")


def _one_sided_edge(pred: Adjacency, succ: Adjacency) -> NoReturn:
    """Every predecessor edge is a successor edge, but the successor map has more."""
    for src, outputs in succ.items():
        for dst in outputs:
            if dst not in pred:
                raise GraphCheckError(f"edge {src!r} -> {dst!r}: {dst!r} is not a node")
            if src not in pred[dst]:
                raise GraphCheckError(
                    f"edge {src!r} -> {dst!r} is in the successor map only "
                    f"(node {dst!r} does not read {src!r})"
                )
    raise GraphCheckError("the adjacency maps hold different numbers of edges")


def check_results(nodes: Mapping[str, object], output: str, outputs: Iterable[str]) -> None:
    """``graph.output`` and each name in ``graph.outputs`` must be a node."""
    if output not in nodes:
        raise GraphCheckError(f"graph output {output!r} is not a node")
    for name in outputs:
        if name not in nodes:
            raise GraphCheckError(f"graph outputs name {name!r}, which is not a node")
