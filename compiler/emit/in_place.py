"""Which steps of a plan may overwrite their input: the in-place ReLU rule.

A ReLU that writes over its input saves a tensor's allocation and a pass over memory
(``nn.ReLU(inplace=True)``, as hand-written networks do). It is exact in training too,
as long as nothing else needs the overwritten tensor: no other step reads it, it is not
a result nor the caller's input, and the module that made it does not read its own
output in backward (:func:`fresh_output`). A forward hook on that module sees the tensor
it returned, which the ReLU then overwrites: clone it in the hook to keep it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from graphspec import INPUT, Graph, ops

__all__ = ["FRESH_OUTPUT", "fresh_output", "overwrites", "runs_in_place"]

FRESH_OUTPUT: tuple[type[ops.Op], ...] = (
    ops.Conv,
    ops.ConvTranspose,
    ops.BatchNorm,
    ops.Linear,
    ops.Concat,
    ops.Upsample,
)
"""Ops whose emitted module returns a new tensor that its own backward never reads (a
convolution saves its input, batch norm its input and statistics, concatenation and
resizing nothing), so the op after it may overwrite that tensor in place."""


def fresh_output(op: ops.Op, inputs: int) -> bool:
    """Whether the op after ``op`` may overwrite ``op``'s output in place. Views (flatten,
    reshape) share memory with their input, activations such as ReLU and sigmoid save
    their result for backward, and an ``add`` of one input returns that input itself:
    none of them qualifies, nor does an op this table does not know."""
    if isinstance(op, ops.Add):
        return inputs >= 2
    return isinstance(op, FRESH_OUTPUT)


def runs_in_place(op: ops.Op) -> bool:
    """Whether ``op``'s module can overwrite its input: ReLU, whose backward reads only
    its result. SiLU and GELU read their input and LeakyReLU's in-place backward refuses
    some slopes, so they always allocate."""
    return isinstance(op, ops.ReLU)


def overwrites(
    graph: Graph, node: str, keys: tuple[str, ...], readers: Mapping[str, int], final: Set[str]
) -> bool:
    """Whether step ``node``, reading env ``keys``, may run in place: an op that can, on
    its one input, which ``readers`` (reads per key over the whole plan) says no other
    step reads, that is not in ``final`` (the results) nor the network's input, and
    whose module's output its own backward does not need."""
    if not runs_in_place(graph[node].op) or len(keys) != 1:
        return False
    (key,) = keys
    if key == INPUT or key in final or readers[key] != 1 or key not in graph:
        return False
    return fresh_output(graph[key].op, len(graph.inputs_of(key)))
