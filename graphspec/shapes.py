"""Shape inference: output shape, parameters, FLOPs, receptive field and cumulative stride
of every node, from its op's exact PyTorch size rule.

Inference is one topological sweep: each node's results (the receptive field included)
come from its inputs' results, never by walking back to the image. The builder infers
every node once; passes then infer only what they touch: :func:`infer_node` for a node
they add (its inputs are known), :func:`infer_changed` after rewiring or rewriting
existing nodes (it follows the change downstream only as far as results change), so a
compile never re-runs inference over the whole graph.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from graphspec.errors import SpecError
from graphspec.ir import Graph, Node
from graphspec.ops import Op, Shape, ShapeError


def infer_shapes(graph: Graph) -> Graph:
    """Infer every node in topological order. Raises :class:`SpecError` at the first layer
    that cannot run."""
    for node in graph.topological():
        infer_node(graph, node.name)
    return graph


def infer_changed(graph: Graph, changed: Iterable[str]) -> Graph:
    """Re-infer the ``changed`` nodes (a new op, new inputs) and, in execution order, each
    reader of a node whose shape, receptive field or stride came out different. The
    result equals :func:`infer_shapes` over the whole graph: a node that is not re-inferred
    has the inputs and op it was last inferred with."""
    dirty = set(changed)
    if not dirty:
        return graph
    for node in graph.topological():
        if node.name not in dirty:
            continue
        before = (node.shape, node.rf, node.jump)
        infer_node(graph, node.name)
        if (node.shape, node.rf, node.jump) != before:
            dirty.update(graph.consumers(node.name))
    return graph


def infer_node(graph: Graph, name: str) -> Node:
    """Infer one node whose inputs are already inferred; return it."""
    node = graph[name]
    preds = [graph[p] for p in graph.inputs_of(name)]
    shapes = [p.shape for p in preds]
    try:
        shape = tuple(node.op.infer(shapes))
    except ShapeError as exc:
        raise SpecError.at(node.loc, str(exc)) from None
    if len(shape) == 3 and min(shape[1:]) < 1:
        src = "x".join(map(str, shapes[0][1:])) if shapes else "?"
        raise SpecError.at(
            node.loc,
            f"{node.op.op} shrinks the feature map below 1 pixel "
            f"(expected an output of at least 1x1, got {shape[1]}x{shape[2]} "
            f"from a {src} input)",
        )
    node.shape = shape
    node.params = node.op.param_count(shapes, shape)
    node.flops = node.op.flops(shapes, shape)
    node.rf, node.jump = receptive_field(preds, node.op, shape)
    return node


def receptive_field(
    preds: list[Node], op: Op, shape: Shape
) -> tuple[tuple[int, int] | None, tuple[Fraction, Fraction] | None]:
    """Receptive field and cumulative stride of ``op``'s output from its inputs' (the
    widest field and finest stride over the inputs), or ``None`` after a flatten."""
    if not preds or op.restarts_field:
        return (1, 1), (Fraction(1), Fraction(1))
    if len(shape) != 3 or any(p.rf is None or p.jump is None for p in preds):
        return None, None
    if len(preds) == 1:
        rf, jump = preds[0].rf, preds[0].jump
    else:
        rf = (max(p.rf[0] for p in preds), max(p.rf[1] for p in preds))  # type: ignore[index]
        jump = (min(p.jump[0] for p in preds), min(p.jump[1] for p in preds))  # type: ignore[index]
    window = op.window()
    if window is None:
        return rf, jump
    kernel, stride = window
    new_jump = (Fraction(jump[0]) * Fraction(stride[0]), Fraction(jump[1]) * Fraction(stride[1]))
    # For upsampling ops the kernel spans output pixels, so it grows the field by the new jump.
    step = (min(jump[0], new_jump[0]), min(jump[1], new_jump[1]))
    new_rf = tuple(r + (k - 1) * s for r, k, s in zip(rf, kernel, step, strict=True))
    return new_rf, new_jump  # type: ignore[return-value]
