"""``Graph.check()``: the IR's wiring invariants, on hand-built graphs broken one way each.

Every graph below is ``input -> a, input -> b, (a, b) -> c`` (c adds a and b on ports 0
and 1), then broken by the kind of edit a buggy pass makes; the expected messages name
the node and the fault as written here, not as the checker computes them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compiler import compile_graph
from graphspec import INPUT, Graph, Node, SourceLocation, SpecError, build_graph, load_spec
from graphspec.ir import GraphCheckError
from graphspec.ops import Op
from graphspec.ops.ir import Input
from graphspec.ops.merge import Add
from graphspec.ops.pointwise import ReLU
from tests import SPECS

LOC = SourceLocation("<test>")


def _node(name: str, op: Op) -> Node:
    return Node(name, op, "encoder", LOC, shape=(4, 8, 8))


def _diamond() -> Graph:
    graph = Graph("diamond")
    graph.add(Node(INPUT, Input(channels=4, height=8, width=8), "input", LOC))
    graph.add(_node("a", ReLU()), [INPUT])
    graph.add(_node("b", ReLU()), [INPUT])
    graph.add(_node("c", Add()), ["a", "b"])
    graph.output = "c"
    return graph


def _message(graph: Graph) -> str:
    with pytest.raises(GraphCheckError) as caught:
        graph.check()
    return str(caught.value)


def test_a_well_formed_graph_passes() -> None:
    graph = _diamond()
    graph.check()
    assert graph.inputs_of("c") == ["a", "b"]
    assert [n.name for n in graph.topological()] == [INPUT, "a", "b", "c"]


def test_a_broken_graph_is_a_compiler_bug_not_a_spec_error() -> None:
    assert not issubclass(GraphCheckError, SpecError)


def test_edge_from_a_node_removed_from_the_table() -> None:
    graph = _diamond()
    del graph._nodes["a"]  # a pass that deleted the node but not its edges
    assert _message(graph) == "edge 'input' -> 'a': 'a' is not a node"


def test_edge_from_a_name_that_was_never_a_node() -> None:
    graph = _diamond()
    graph._pred["c"]["ghost"] = 2
    assert _message(graph) == "edge 'ghost' -> 'c': 'ghost' is not a node"


def test_edge_to_a_name_that_is_not_a_node() -> None:
    graph = _diamond()
    graph._succ["a"]["ghost"] = 0
    assert _message(graph) == "edge 'a' -> 'ghost': 'ghost' is not a node"


def test_edge_in_one_adjacency_map_only() -> None:
    graph = _diamond()
    del graph._succ["b"]["c"]
    assert _message(graph) == (
        "edge 'b' -> 'c' is in the predecessor map only ('b' does not list 'c' as a consumer)"
    )


def test_maps_that_disagree_on_a_port() -> None:
    graph = _diamond()
    graph._succ["a"]["c"] = 1
    assert _message(graph) == (
        "edge 'a' -> 'c' has port 0 in the predecessor map but 1 in the successor map"
    )


def test_port_gap() -> None:
    graph = _diamond()
    graph.connect("b", "c", 2)  # re-wired on port 2: nothing on port 1
    assert _message(graph) == "node 'c' input ports [0, 2] are not contiguous (expected [0, 1])"


def test_duplicate_port() -> None:
    graph = _diamond()
    graph.connect("b", "c", 0)  # a and b both on port 0
    assert _message(graph) == "node 'c' input ports [0, 0] use port 0 twice"


def test_single_input_on_port_one() -> None:
    graph = _diamond()
    graph.connect(INPUT, "a", 1)
    assert _message(graph) == "node 'a' input ports [1] are not contiguous (expected [0])"


def test_missing_output() -> None:
    graph = _diamond()
    graph.output = "head"
    assert _message(graph) == "graph output 'head' is not a node"


def test_missing_name_in_outputs() -> None:
    graph = _diamond()
    graph.outputs = ("c", "scores")
    assert _message(graph) == "graph outputs name 'scores', which is not a node"


def test_cycle() -> None:
    graph = _diamond()
    graph.connect("c", "b", 1)  # b reads input and c: b -> c -> b
    message = _message(graph)
    assert re.fullmatch(r"node '([bc])' is on a cycle: (b -> c -> b|c -> b -> c)", message)


def test_a_write_after_a_passed_check_is_checked_again() -> None:
    """The verdict is remembered only until the next write, on the graph and its copies."""
    graph = _diamond()
    graph.check()
    copy = graph.copy()
    copy.connect("b", "c", 2)
    assert _message(copy) == "node 'c' input ports [0, 2] are not contiguous (expected [0, 1])"
    graph.check()  # the original is untouched
    graph.connect("b", "c", 0)
    assert _message(graph) == "node 'c' input ports [0, 0] use port 0 twice"


def test_the_remembered_order_follows_every_write() -> None:
    graph = _diamond()
    assert [n.name for n in graph.topological()] == [INPUT, "a", "b", "c"]
    graph.add(_node("d", ReLU()), ["c"])
    assert [n.name for n in graph.topological()] == [INPUT, "a", "b", "c", "d"]
    copy = graph.copy()
    copy.bypass("d")
    assert [n.name for n in copy.topological()] == [INPUT, "a", "b", "c"]
    assert [n.name for n in graph.topological()] == [INPUT, "a", "b", "c", "d"]
    graph.keep_only({INPUT, "a"})
    assert [n.name for n in graph.topological()] == [INPUT, "a"]


REFERENCE = sorted(SPECS.glob("*.yaml"))


def test_there_are_reference_specs() -> None:
    assert len(REFERENCE) >= 10


@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: p.name)
def test_every_reference_spec_passes(path: Path) -> None:
    spec = load_spec(path)
    built = build_graph(spec, check_budget=False)
    built.check()
    compiled = compile_graph(spec, check_budget=False)
    compiled.check()
    assert set(compiled.results) <= set(compiled.names)
