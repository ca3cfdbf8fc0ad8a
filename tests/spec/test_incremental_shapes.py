"""Passes infer only what they touch, and get what a from-scratch inference gets.

For every spec in ``specs/``, the compiled graph (built once, then each pass inferring its
new and rewired nodes) must carry, node by node, exactly the shape, parameters, FLOPs,
receptive field and stride that :func:`infer_shapes` computes over the final graph; the
execution order must be networkx's, which the IR used before it kept its own wiring.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

import graphspec.shapes
from compiler import compile_graph
from compiler.passes import add_skips, fc_to_conv, mirror_decoder
from graphspec import build_graph, infer_shapes, load_spec
from tests import REPO

SPECS = sorted(REPO.joinpath("specs").glob("*.yaml"))


def _facts(graph):
    return {n.name: (n.shape, n.params, n.flops, n.rf, n.jump) for n in graph}


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_incremental_inference_equals_a_full_one(path):
    graph = compile_graph(load_spec(path))
    again = graph.copy()
    for node in again:
        node.shape, node.params, node.flops, node.rf, node.jump = (), -1, -1, None, None
    infer_shapes(again)
    assert _facts(graph) == _facts(again)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_execution_order_is_networkx_order(path):
    graph = compile_graph(load_spec(path))
    # Edge insertion order per source decides networkx's ties; rebuild it from the IR.
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.names)
    dag.add_edges_from((s, d) for s in graph.names for d in graph.consumers(s))
    assert [n.name for n in graph.topological()] == list(nx.topological_sort(dag))


def _count_inferences(monkeypatch):
    calls: list[str] = []
    real = graphspec.shapes.infer_node

    def counting(graph, name):
        calls.append(name)
        return real(graph, name)

    monkeypatch.setattr(graphspec.shapes, "infer_node", counting)
    return calls


def test_skips_infer_the_joins_and_what_changes_downstream(monkeypatch):
    spec = load_spec(Path(SPECS[0]).parent / "unet-small.yaml")
    graph = build_graph(spec)
    decoded = mirror_decoder(graph, spec)
    marked = [n.name for n in decoded if n.skip_source is not None]
    calls = _count_inferences(monkeypatch)
    joined = add_skips(decoded, spec)
    # Each concat is new, so its reader (a decoder conv, now reading twice the channels)
    # is re-inferred: its params change, its shape does not, and neither does its
    # receptive field (a join takes the widest of its inputs': the decoder side's), so
    # nothing after it is inferred again.
    joins = [f"skip_{decoded[m].skip_source}" for m in marked]
    readers = [joined.consumers(j)[0] for j in joins]
    assert sorted(calls) == sorted(joins + readers)
    assert len(calls) < len(joined) / 4


FC_SPEC = """
name: fc
task: classification
input: {channels: 3, height: 8, width: 8}
classes: 5
encoder:
  - stage: s
    layers:
      - {op: conv, out: 4, kernel: 3, padding: 1, name: conv}
      - {op: maxpool, kernel: 2, stride: 2, name: pool}
      - {op: flatten, name: flat}
      - {op: dropout, p: 0.5, name: drop}
      - {op: linear, out: 10, name: fc1}
      - {op: relu, name: act}
      - {op: linear, out: classes, name: fc2}
head: {type: classification}
"""


def test_fc_to_conv_infers_the_converted_and_rewired_nodes_only(monkeypatch):
    spec = load_spec(FC_SPEC)
    graph = build_graph(spec)
    calls = _count_inferences(monkeypatch)
    converted = fc_to_conv(graph, spec)
    # drop now reads the 4x4x4 map (rewired), fc1 and fc2 became convs, act reads a map:
    # conv and pool are untouched.
    assert calls == ["drop", "fc1", "act", "fc2"]
    assert converted["drop"].shape == (4, 4, 4)
    assert converted["fc1"].shape == (10, 1, 1) and converted["fc2"].shape == (5, 1, 1)
    assert converted["fc1"].params == 4 * 4 * 4 * 10 + 10
    # conv 3x3: rf 3; pool 2/2: rf 3 + 1 = 4, stride 2; fc1 (4x4 kernel): 4 + 3 * 2 = 10.
    assert converted["fc2"].rf == (10, 10) and converted["fc2"].jump == (2, 2)
