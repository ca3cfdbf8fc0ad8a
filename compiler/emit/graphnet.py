"""Emission: graph IR -> a runnable ``nn.Module``.

:class:`GraphNet` owns one submodule per node, registered under the node's name (so
``state_dict`` keys read ``conv1_1.weight``, identical to the generated source), and runs
them in topological order. The plan is a static list, which ``torch.compile`` unrolls;
intermediate results are dropped as soon as nothing later reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import torch
from torch import Tensor, nn

from compiler.layers import module_call
from graphspec import SpecError, inputs_of
from graphspec.graph import INPUT
from graphspec.ir_ops import MaxUnpool
from graphspec.ops import MaxPool


@dataclass(frozen=True)
class Step:
    node: str
    inputs: tuple[str, ...]  # env keys; an unpool also reads ``<pool>:indices``
    outputs: tuple[str, ...]
    release: tuple[str, ...]  # env keys no later step reads


def indices_key(pool: str) -> str:
    return f"{pool}:indices"


def plan_steps(graph: nx.DiGraph) -> list[Step]:
    """The execution order, with each step's inputs, outputs and last uses."""
    raw: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    for node in nx.topological_sort(graph):
        if node == INPUT:
            continue
        op = graph.nodes[node]["op"]
        preds = inputs_of(graph, node)
        keys = tuple(preds)
        if isinstance(op, MaxUnpool):
            keys = (preds[0], indices_key(op.pool))
        outputs = (node, indices_key(node)) if isinstance(op, MaxPool) else (node,)
        raw.append((node, keys, outputs))
    final = set(graph_outputs(graph))
    last_use: dict[str, int] = {}
    for i, (_, keys, _) in enumerate(raw):
        for key in keys:
            last_use[key] = i
    steps = []
    for i, (node, keys, outputs) in enumerate(raw):
        release = tuple(sorted({k for k in keys if last_use[k] == i and k not in final}))
        steps.append(Step(node, keys, outputs, release))
    return steps


def graph_outputs(graph: nx.DiGraph) -> list[str]:
    """Output node(s): detection heads return several tensors, others one."""
    outputs = graph.graph.get("outputs")
    return list(outputs) if outputs else [graph.graph["output"]]


class GraphNet(nn.Module):
    """A network built from a graphspec graph IR."""

    def __init__(self, graph: nx.DiGraph) -> None:
        super().__init__()
        self.spec_name: str = graph.graph.get("name", "graphnet")
        self.steps = plan_steps(graph)
        self.outputs = tuple(graph_outputs(graph))
        for step in self.steps:
            data = graph.nodes[step.node]
            if hasattr(self, step.node):
                raise SpecError.at(
                    data["loc"],
                    f"layer name '{step.node}' is reserved by "
                    "torch.nn.Module (expected another name)",
                )
            shapes = [graph.nodes[p]["shape"] for p in inputs_of(graph, step.node)]
            self.add_module(step.node, module_call(data["op"], shapes, data["shape"]).build())
        for node, data in graph.nodes(data=True):
            if data.get("tied_to"):
                # One Parameter, two uses: gradients from encoder and decoder accumulate.
                getattr(self, node).weight = getattr(self, data["tied_to"]).weight
        self.graph = graph

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        env: dict[str, Tensor] = {INPUT: x}
        for step in self.steps:
            out = getattr(self, step.node)(*[env[k] for k in step.inputs])
            if len(step.outputs) == 2:
                env[step.outputs[0]], env[step.outputs[1]] = out
            else:
                env[step.outputs[0]] = out
            for key in step.release:
                del env[key]
        if len(self.outputs) == 1:
            return env[self.outputs[0]]
        return tuple(env[o] for o in self.outputs)


def count_parameters(module: nn.Module) -> int:
    """Parameters counted once each (a tied weight is one Parameter)."""
    return sum(p.numel() for p in module.parameters())


def example_input(graph: nx.DiGraph, batch: int = 1, device: str | torch.device = "cpu") -> Tensor:
    c, h, w = graph.nodes[INPUT]["shape"]
    return torch.randn(batch, c, h, w, device=device)
