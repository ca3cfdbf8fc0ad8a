"""Emission: graph IR -> a runnable ``nn.Module``.

:class:`GraphNet` owns one submodule per node, registered under the node's name (so
``state_dict`` keys read ``conv1_1.weight``, identical to the generated source), and runs
them in topological order. The plan is a static list, which ``torch.compile`` unrolls;
intermediate results are dropped as soon as nothing later reads them, a max-pool returns
its argmax only when an unpool reads it, and a ReLU overwrites its input when nothing
else reads that input (:mod:`compiler.emit.in_place`), so the network allocates no more
than a hand-written one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from compiler.emit.in_place import overwrites
from compiler.emit.modules import ModuleCall, module_call
from graphspec import INPUT, Graph, SpecError
from graphspec.gc_pause import paused_gc
from graphspec.ops import MaxPool, MaxUnpool


@dataclass(frozen=True)
class Step:
    node: str
    inputs: tuple[str, ...]  # env keys; an unpool also reads ``<pool>:indices``
    outputs: tuple[str, ...]  # a pool an unpool reads also writes ``<pool>:indices``
    release: tuple[str, ...]  # env keys no later step reads
    in_place: bool = False  # overwrites its one input, which no other step reads


def indices_key(pool: str) -> str:
    return f"{pool}:indices"


def plan_steps(graph: Graph, last: frozenset[str] = frozenset()) -> list[Step]:
    """The execution order, with each step's inputs, outputs and last uses; the nodes in
    ``last`` (a branch that reads only earlier nodes, such as a mask branch, which runs
    on the detections) run after every other node, in their own order."""
    raw: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    order = graph.topological()
    order = [n for n in order if n.name not in last] + [n for n in order if n.name in last]
    unpooled = {n.op.pool for n in order if isinstance(n.op, MaxUnpool)}
    for node in order:
        if node.name == INPUT:
            continue
        preds = graph.inputs_of(node.name)
        keys = tuple(preds)
        if isinstance(node.op, MaxUnpool):
            keys = (preds[0], indices_key(node.op.pool))
        outputs = (node.name,)
        if isinstance(node.op, MaxPool) and node.name in unpooled:
            outputs += (indices_key(node.name),)
        raw.append((node.name, keys, outputs))
    final = set(graph.results)
    last_use: dict[str, int] = {}
    readers: dict[str, int] = {}
    for i, (_, keys, _) in enumerate(raw):
        for key in keys:
            last_use[key] = i
            readers[key] = readers.get(key, 0) + 1
    steps = []
    for i, (node, keys, outputs) in enumerate(raw):
        release = tuple(sorted({k for k in keys if last_use[k] == i and k not in final}))
        in_place = overwrites(graph, node, keys, readers, final)
        steps.append(Step(node, keys, outputs, release, in_place))
    return steps


def step_call(graph: Graph, step: Step) -> ModuleCall:
    """The module of one step: its op's :func:`module_call`, with the argmax for a pool
    an unpool reads and ``inplace`` where the plan allows it."""
    node = graph[step.node]
    call = module_call(node.op, graph.input_shapes(step.node), node.shape)
    if len(step.outputs) == 2:
        call = call.with_indices()
    return call.in_place() if step.in_place else call


class GraphNet(nn.Module):
    """A network built from a graphspec graph IR."""

    @paused_gc()  # hundreds of modules and tensors that live on: see graphspec.gc_pause
    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.spec_name: str = graph.name
        self.steps = plan_steps(graph)
        self.outputs = graph.results
        for step in self.steps:
            node = graph[step.node]
            if hasattr(self, step.node):
                raise SpecError.at(
                    node.loc,
                    f"layer name '{step.node}' is reserved by "
                    "torch.nn.Module (expected another name)",
                )
            self.add_module(step.node, step_call(graph, step).build())
        for node in graph:
            if node.tied_to:
                # One Parameter, two uses: gradients from encoder and decoder accumulate.
                getattr(self, node.name).weight = getattr(self, node.tied_to).weight
        self.graph = graph

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        # The common one-input, one-output step skips building an argument list; the
        # submodule comes from ``_modules`` directly (what ``getattr`` ends up reading,
        # so a replaced submodule is still the one that runs).
        env: dict[str, Tensor] = {INPUT: x}
        modules = self._modules
        for step in self.steps:
            inputs, outputs = step.inputs, step.outputs
            if len(inputs) == 1:
                out = modules[step.node](env[inputs[0]])
            else:
                out = modules[step.node](*[env[k] for k in inputs])
            if len(outputs) == 1:
                env[outputs[0]] = out
            else:
                env[outputs[0]], env[outputs[1]] = out
            for key in step.release:
                del env[key]
        if len(self.outputs) == 1:
            return env[self.outputs[0]]
        return tuple(env[o] for o in self.outputs)


def count_parameters(module: nn.Module) -> int:
    """Parameters counted once each (a tied weight is one Parameter)."""
    return sum(p.numel() for p in module.parameters())


def example_input(graph: Graph, batch: int = 1, device: str | torch.device = "cpu") -> Tensor:
    """A random image batch of the graph's input size."""
    c, h, w = graph[INPUT].shape
    return torch.randn(batch, c, h, w, device=device)
