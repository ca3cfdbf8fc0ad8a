"""The graph IR: a networkx DAG whose nodes are typed ops.

``build_graph`` turns a validated spec into the IR and runs ``infer_shapes``, which
every compiler pass calls again after rewriting the graph. Node attributes:

``op``        the :class:`~graphspec.ops.Op` model
``role``      ``input`` | ``encoder`` | ``decoder`` | ``head``
``stage``     the spec stage the node came from (``None`` for derived nodes)
``loc``       :class:`~graphspec.errors.SourceLocation` of the layer in the YAML
``shape``     output shape without batch; ``params`` and ``flops`` (2 x MACs);
``rf``/``jump`` receptive field and cumulative stride (``None`` after a flatten)

Edges carry ``port``: the position of the source among the target's inputs.
Graph attributes: ``name``, ``spec``, ``input`` and ``output`` node ids.
"""

from __future__ import annotations

import keyword
from fractions import Fraction
from typing import Any

import networkx as nx

from graphspec.errors import SourceLocation, SpecError, SpecIssue
from graphspec.ir_ops import Input
from graphspec.ops import Op, ShapeError
from graphspec.schema import Spec

INPUT = "input"
# Prefixes of the names compiler passes give the nodes they add.
RESERVED_PREFIXES = ("dec_", "skip_", "head", "ssd_", "yolo_")


def _name_issue(name: str, loc: SourceLocation, what: str) -> SpecIssue | None:
    if keyword.iskeyword(name) or name == INPUT:
        return SpecIssue(
            loc,
            f"reserved {what} '{name}' (expected a name that is not a Python keyword or '{INPUT}')",
        )
    if name.startswith(RESERVED_PREFIXES):
        return SpecIssue(
            loc,
            f"reserved {what} '{name}' (expected a name not starting with "
            f"{', '.join(RESERVED_PREFIXES)}: the compiler names its layers so)",
        )
    return None


MAX_LAYERS = 10_000  # a bound so a typo such as `repeat: 100000` fails fast


def inputs_of(graph: nx.DiGraph, node: str) -> list[str]:
    """Predecessors of ``node`` in port order."""
    preds = graph.in_edges(node, data="port")
    return [src for src, _, _ in sorted(preds, key=lambda e: e[2])]


def scaled_out(op: Op, spec: Spec) -> Op:
    """Resolve ``out: classes`` and apply the width multiplier to every other ``out``."""
    out = getattr(op, "out", None)
    if out is None:
        return op
    if out == "classes":
        value = spec.classes
    elif spec.scale.width == 1.0:
        value = int(out)
    else:
        value = max(1, round(int(out) * spec.scale.width))
        groups = getattr(op, "groups", 1)
        value = max(groups, value // groups * groups)  # keep scaled grouped convs valid
    return op.model_copy(update={"out": value})


def build_graph(spec: Spec, *, check_budget: bool = True) -> nx.DiGraph:
    """Build the encoder graph of ``spec`` and infer every node's shape and cost."""
    smap = spec.source
    graph = nx.DiGraph(name=spec.name, spec=spec, input=INPUT, output=INPUT)
    graph.add_node(
        INPUT,
        op=Input(channels=spec.input.channels, height=spec.input.height, width=spec.input.width),
        role="input",
        stage=None,
        loc=smap.locate(("input",)),
    )
    issues: list[SpecIssue] = []
    wiring: list[tuple[str, list[str], SourceLocation]] = []  # node, names, loc of `from`
    previous = INPUT
    layer_count = sum(stage.repeat * len(stage.layers) for stage in spec.encoder)
    if layer_count > MAX_LAYERS:
        raise SpecError.at(
            smap.locate(("encoder",)),
            f"too many layers (expected at most {MAX_LAYERS:,} after repeats, got {layer_count:,})",
        )
    for si, stage in enumerate(spec.encoder):
        stage_loc = smap.locate(("encoder", si, "stage"))
        issue = _name_issue(stage.stage, stage_loc, "stage name")
        if issue:
            issues.append(issue)
        if stage.stage in [s.stage for s in spec.encoder[:si]]:
            issues.append(
                SpecIssue(
                    stage_loc, f"duplicate stage name '{stage.stage}' (expected unique stage names)"
                )
            )
            continue
        counter = 0
        for rep in range(stage.repeat):
            local: dict[str, str] = {}  # names inside this stage copy -> node ids
            for li, layer in enumerate(stage.layers):
                path = ("encoder", si, "layers", li)
                loc = smap.locate(path)
                node = layer.name if layer.name else f"{stage.stage}_{counter}"
                if layer.name and rep:
                    node = f"{layer.name}_{rep}"
                counter += 1
                if layer.name and not rep:
                    issue = _name_issue(layer.name, smap.locate((*path, "name")), "layer name")
                    if issue:
                        issues.append(issue)
                        continue
                if node in graph:
                    where = graph.nodes[node]["loc"]
                    issues.append(
                        SpecIssue(
                            smap.locate((*path, "name")),
                            f"duplicate name "
                            f"'{node}' (expected unique names, first used at line "
                            f"{where.line})",
                        )
                    )
                    continue
                if layer.name:
                    local[layer.name] = node
                graph.add_node(
                    node, op=scaled_out(layer, spec), role="encoder", stage=stage.stage, loc=loc
                )
                names = [local.get(n, n) for n in layer.inputs_named()]
                if layer.arity is None and len(names) == 1:
                    names = [previous, *names]
                if not names:
                    names = [previous]
                wiring.append((node, names, smap.locate((*path, "from"))))
                previous = node
    graph.graph["output"] = previous
    for node, names, loc in wiring:
        op: Op = graph.nodes[node]["op"]
        if op.arity == 1 and len(names) != 1:
            issues.append(
                SpecIssue(
                    loc,
                    f"{op.kind} takes one input (expected one name in `from`, got {len(names)})",
                )
            )
            continue
        if op.arity is None and len(set(names)) < 2:
            issues.append(
                SpecIssue(
                    loc,
                    f"{op.kind} combines two or more inputs (expected "
                    f"at least two distinct names, got {names})",
                )
            )
            continue
        for port, name in enumerate(names):
            if name not in graph:
                hint = _suggest(name, [n for n in graph.nodes if n != node])
                issues.append(SpecIssue(loc, f"unknown layer name '{name}'{hint}"))
            else:
                graph.add_edge(name, node, port=port)
    if not issues:
        issues.extend(_cycle_issues(graph))
    if issues:
        raise SpecError(issues)
    infer_shapes(graph)
    if check_budget:
        enforce_budget(graph, spec)
    return graph


def _suggest(name: str, names: list[str]) -> str:
    from graphspec.ops import _did_you_mean

    hint = _did_you_mean(name, names)
    return hint if "did you mean" in hint else " (expected the name of a layer in this spec)"


def _cycle_issues(graph: nx.DiGraph) -> list[SpecIssue]:
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return []
    order = {n: i for i, n in enumerate(graph.nodes)}
    # The edge that points backwards in file order is the forward reference that closed it.
    src, dst = max(cycle, key=lambda e: order[e[0]] - order[e[1]])[:2]
    names = " -> ".join([e[0] for e in cycle] + [cycle[0][0]])
    loc = graph.nodes[dst]["loc"]
    return [
        SpecIssue(
            loc,
            f"cycle in the graph: {names} (expected layers to take inputs "
            f"only from earlier layers, got '{dst}' reading '{src}')",
        )
    ]


def infer_shapes(graph: nx.DiGraph) -> nx.DiGraph:
    """Infer shape, params, FLOPs, receptive field and cumulative stride of every node,
    in topological order. Raises :class:`SpecError` at the first layer that cannot run."""
    for node in nx.topological_sort(graph):
        infer_node(graph, node)
    return graph


def infer_node(graph: nx.DiGraph, node: str) -> None:
    """Infer one node whose inputs are already inferred (passes appending nodes use it)."""
    data = graph.nodes[node]
    op: Op = data["op"]
    preds = inputs_of(graph, node)
    shapes = [graph.nodes[p]["shape"] for p in preds]
    try:
        shape = op.infer(shapes)
    except ShapeError as exc:
        raise SpecError.at(data["loc"], str(exc)) from None
    if len(shape) == 3 and min(shape[1:]) < 1:
        src = "x".join(map(str, shapes[0][1:])) if shapes else "?"
        raise SpecError.at(
            data["loc"],
            f"{op.kind} shrinks the feature map below 1 pixel "
            f"(expected an output of at least 1x1, got {shape[1]}x{shape[2]} "
            f"from a {src} input)",
        )
    data["shape"] = tuple(shape)
    data["params"] = op.param_count(shapes, shape)
    data["flops"] = op.flops(shapes, shape)
    data["rf"], data["jump"] = _receptive_field(graph, preds, op, shape)


def _receptive_field(
    graph: nx.DiGraph, preds: list[str], op: Op, shape: tuple[int, ...]
) -> tuple[Any, Any]:
    if not preds:
        return (1, 1), (Fraction(1), Fraction(1))
    parents = [graph.nodes[p] for p in preds]
    if len(shape) != 3 or any(p["rf"] is None for p in parents):
        return None, None
    rf = tuple(max(p["rf"][i] for p in parents) for i in range(2))
    jump = tuple(min(p["jump"][i] for p in parents) for i in range(2))
    window = op.window()
    if window is None:
        return rf, jump
    kernel, stride = window
    new_jump = tuple(Fraction(j) * Fraction(s) for j, s in zip(jump, stride, strict=True))
    # For upsampling ops the kernel spans output pixels, so it grows the field by the new jump.
    step = tuple(min(a, b) for a, b in zip(jump, new_jump, strict=True))
    new_rf = tuple(r + (k - 1) * s for r, k, s in zip(rf, kernel, step, strict=True))
    return new_rf, new_jump


def totals(graph: nx.DiGraph) -> dict[str, int]:
    """Total parameters and FLOPs of a graph. Tied layers (``shares`` attribute) reuse
    another node's weight, so their weight is not counted twice."""
    params = sum(d.get("params", 0) for _, d in graph.nodes(data=True))
    params -= sum(d.get("shared_params", 0) for _, d in graph.nodes(data=True))
    flops = sum(d.get("flops", 0) for _, d in graph.nodes(data=True))
    return {"params": params, "flops": flops}


def enforce_budget(graph: nx.DiGraph, spec: Spec) -> None:
    """Raise if the graph exceeds the spec's ``budget`` (one issue per limit exceeded)."""
    if spec.budget is None:
        return
    total = totals(graph)
    issues = []
    smap = spec.source
    if spec.budget.max_params is not None and total["params"] > spec.budget.max_params:
        issues.append(
            SpecIssue(
                smap.locate(("budget", "max_params")),
                f"budget exceeded: "
                f"{total['params']:,} parameters (expected at most "
                f"{spec.budget.max_params:,.0f}, got {total['params']:,})",
            )
        )
    gflops = total["flops"] / 1e9
    if spec.budget.max_gflops is not None and gflops > spec.budget.max_gflops:
        issues.append(
            SpecIssue(
                smap.locate(("budget", "max_gflops")),
                f"budget exceeded: "
                f"{gflops:.6g} GFLOPs (expected at most {spec.budget.max_gflops}, "
                f"got {gflops:.6g})",
            )
        )
    if issues:
        raise SpecError(issues)
