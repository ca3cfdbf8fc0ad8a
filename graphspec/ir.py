"""The graph IR: a DAG of typed :class:`Node` values, in the spirit of ``torch.fx``.

A :class:`Graph` holds nodes by name and the wiring between them (adjacency maps, with
each edge's ``port``: the position of the source among the target's inputs). Every fact
the builder or a pass records about a node is a named, typed field of :class:`Node`, and
graph-level results (the output node, the outputs of a detection head, the head's anchor
layout) are fields of :class:`Graph`. Passes are functions ``Graph -> Graph`` that copy
the graph and rewrite the copy, so a compiled graph never shares nodes with its input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from graphspec.errors import SourceLocation
from graphspec.ir_check import GraphCheckError, check_results, check_wiring
from graphspec.ir_heads import DetectionHead as DetectionHead
from graphspec.ir_heads import TwoStageLayout as TwoStageLayout
from graphspec.ops import Op, Shape

INPUT = "input"
"""The name of the image node every graph starts from."""

Role = Literal["input", "encoder", "decoder", "head"]


@dataclass
class Node:
    """One layer of the network: its op, where it came from, and what passes learnt.

    ``shape``, ``params``, ``flops``, ``rf`` and ``jump`` are filled by shape inference
    (:func:`graphspec.shapes.infer_node`); the fields after them are annotations that one
    pass writes for a later pass or for emission to read."""

    name: str
    op: Op
    role: Role
    loc: SourceLocation
    stage: str | None = None
    """The spec stage the node came from (derived nodes: ``dec_<stage>`` or ``head``)."""

    shape: Shape = ()
    """Output shape without the batch: ``(C, H, W)`` for maps, ``(F,)`` for vectors."""
    params: int = 0
    """Parameters of the node's module, a tied weight included (see ``shared_params``)."""
    flops: int = 0
    """FLOPs per image, 2 x multiply-accumulates, as ``FlopCounterMode`` counts them."""
    rf: tuple[int, int] | None = None
    """Receptive field (h, w) in input pixels; ``None`` once the map was flattened."""
    jump: tuple[Fraction, Fraction] | None = None
    """Cumulative stride (h, w): input pixels between neighbouring outputs."""

    tied_to: str | None = None
    """``mirror_decoder`` (``upsample: tied``): the encoder conv whose weight Parameter
    this transposed conv reuses; emission makes them one Parameter."""
    shared_params: int = 0
    """``mirror_decoder``: weight elements owned by ``tied_to``, so totals count them once."""
    skip_source: str | None = None
    """``mirror_decoder`` -> ``add_skips``: the encoder feature a U-Net skip joins onto
    the decoder right after this node."""
    from_linear: Shape | None = None
    """``fc_to_conv``: the ``(C, h, w)`` map a converted linear read through its flatten,
    which reshapes the linear's trained weight into the conv's."""
    per_roi: bool = False
    """``add_rcnn_head``: the node runs once per RoI (an RoI op and everything after it),
    so its ``shape``, ``flops`` and activations are one RoI's."""

    @property
    def own_params(self) -> int:
        """Parameters this node adds to the network (a tied weight counts at its owner)."""
        return self.params - self.shared_params


class Graph:
    """A DAG of :class:`Node` by name, with graph-level results as typed fields.

    The wiring is two adjacency maps, ``succ[src][dst]`` and ``pred[dst][src]``, each
    holding the edge's port, in insertion order: networkx's layout, without its
    per-call overhead (a 10,000-layer compile added nodes at ~15 us each), and with the
    same iteration orders, so execution order, summaries and generated code are
    unchanged. Every write goes through :meth:`add`, :meth:`connect`,
    :meth:`_disconnect` or :meth:`_remove`, which drop what is remembered about the
    wiring (the topological order, a passed :meth:`check`): a pass that returns its
    input, or a check right before ``enforce_limits``, costs nothing twice."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.output: str = INPUT
        """The node whose value the network returns (the first one, for detection)."""
        self.outputs: tuple[str, ...] = ()
        """Several returned values (SSD: scores, offsets); empty means ``(output,)``."""
        self.detection: DetectionHead | None = None
        self._nodes: dict[str, Node] = {}
        self._succ: dict[str, dict[str, int]] = {}
        self._pred: dict[str, dict[str, int]] = {}
        self._order: list[str] | None = None
        """The topological order of the names, until the next write."""
        self._checked = False
        """Whether the wiring passed :meth:`check` since the last write."""

    # -- reading -------------------------------------------------------------------
    def __getitem__(self, name: str) -> Node:
        return self._nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __iter__(self) -> Iterator[Node]:
        """Nodes in insertion order (builder order, then each pass's additions)."""
        return iter(list(self._nodes.values()))

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def names(self) -> list[str]:
        return list(self._nodes)

    @property
    def results(self) -> tuple[str, ...]:
        """The nodes the network returns, in order."""
        return self.outputs or (self.output,)

    def inputs_of(self, name: str) -> list[str]:
        """The node's inputs in port order."""
        preds = self._pred[name]
        if len(preds) == 1:
            return list(preds)
        return sorted(preds, key=preds.__getitem__)

    def input_shapes(self, name: str) -> list[Shape]:
        return [self._nodes[p].shape for p in self.inputs_of(name)]

    def consumers(self, name: str) -> list[str]:
        return list(self._succ[name])

    def topological(self) -> list[Node]:
        """Nodes in an execution order: Kahn's algorithm by generations, as networkx's
        ``topological_sort`` orders them (ties broken by insertion order)."""
        if self._order is None:
            self._order = self._kahn()
        return [self._nodes[n] for n in self._order]

    def _kahn(self) -> list[str]:
        """The names in :meth:`topological` order; ValueError if there is a cycle."""
        indegree = {n: len(p) for n, p in self._pred.items() if p}
        generation = [n for n, p in self._pred.items() if not p]
        order: list[str] = []
        while generation:
            order += generation
            following = []
            for name in generation:
                for child in self._succ[name]:
                    indegree[child] -= 1
                    if not indegree[child]:
                        following.append(child)
                        del indegree[child]
            generation = following
        if indegree:
            raise ValueError(f"graph {self.name!r} has a cycle")
        return order

    def ancestors(self, names: Iterable[str]) -> set[str]:
        """``names`` and every node they depend on."""
        found = set(names)
        todo = list(found)
        while todo:
            for pred in self._pred[todo.pop()]:
                if pred not in found:
                    found.add(pred)
                    todo.append(pred)
        return found

    def find_cycle(self) -> list[tuple[str, str]]:
        """The edges of one cycle, or ``[]`` for a DAG (networkx finds which, only when
        there is one, so the cycle reported is the one it always reported)."""
        try:
            self.topological()
            return []
        except ValueError:
            pass
        import networkx as nx  # only for a graph with a cycle: it picks the one reported

        dag = nx.DiGraph()
        dag.add_nodes_from(self._nodes)
        dag.add_edges_from((s, d) for s, succ in self._succ.items() for d in succ)
        return [(a, b) for a, b, *_ in nx.find_cycle(dag)]

    def check(self) -> None:
        """Raise :class:`GraphCheckError` naming the node at the first broken invariant:
        every edge joins two nodes, in both maps with one port; each node's input ports are
        ``0..n-1``; the returned nodes exist; there is no cycle. The driver runs it after
        the builder and after each pass (as ``torch.fx`` has ``Graph.lint()``), so a pass
        that corrupts the wiring is named at once instead of crashing a later pass.
        O(nodes + edges), and free on a graph not written since it last passed."""
        check_results(self._nodes, self.output, self.outputs)
        if self._checked:
            return
        check_wiring(self._nodes, self._pred, self._succ)
        try:
            self.topological()
        except ValueError:
            cycle = self.find_cycle()
            names = " -> ".join([src for src, _ in cycle] + [cycle[0][0]])
            raise GraphCheckError(f"node {cycle[0][0]!r} is on a cycle: {names}") from None
        self._checked = True

    # -- writing -------------------------------------------------------------------
    def add(self, node: Node, inputs: Sequence[str] = ()) -> Node:
        """Add ``node`` reading ``inputs`` (in port order); return it."""
        if node.name not in self._nodes:
            self._succ[node.name] = {}
            self._pred[node.name] = {}
        self._nodes[node.name] = node
        self._order, self._checked = None, False
        for port, src in enumerate(inputs):
            self.connect(src, node.name, port)
        return node

    def connect(self, src: str, dst: str, port: int) -> None:
        self._succ[src][dst] = port
        self._pred[dst][src] = port
        self._order, self._checked = None, False

    def _disconnect(self, src: str, dst: str) -> None:
        del self._succ[src][dst]
        del self._pred[dst][src]
        self._order, self._checked = None, False

    def reroute_consumers(self, old: str, new: str) -> None:
        """Make every reader of ``old`` read ``new`` instead, on the same port."""
        for succ, port in list(self._succ[old].items()):
            if succ == new:
                continue
            self._disconnect(old, succ)
            self.connect(new, succ, port)
        if self.output == old:
            self.output = new

    def bypass(self, name: str) -> None:
        """Remove a one-input node, wiring its input to each of its readers."""
        (pred,) = self.inputs_of(name)
        self.reroute_consumers(name, pred)
        self._remove(name)

    def _remove(self, name: str) -> None:
        for succ in self._succ.pop(name):
            del self._pred[succ][name]
        for pred in self._pred.pop(name):
            del self._succ[pred][name]
        del self._nodes[name]
        self._order, self._checked = None, False

    def keep_only(self, names: set[str]) -> None:
        """Drop every node not in ``names``."""
        for name in [n for n in self._nodes if n not in names]:
            self._remove(name)

    def copy(self) -> Graph:
        """A copy whose nodes can be rewritten without touching this graph (ops are frozen
        models, so they are shared; a node's other fields are immutable values)."""
        new = Graph(self.name)
        new.output, new.outputs, new.detection = self.output, self.outputs, self.detection
        for name, node in self._nodes.items():
            clone = object.__new__(Node)
            clone.__dict__.update(node.__dict__)
            new._nodes[name] = clone
        new._succ = {n: dict(s) for n, s in self._succ.items()}
        new._pred = {n: dict(p) for n, p in self._pred.items()}
        new._order, new._checked = self._order, self._checked  # same wiring; never mutated
        return new
