"""``build_graph``: a validated spec's encoder as the graph IR, every shape inferred.

Building runs in three steps a reader can follow: :func:`_place_layers` turns each stage
copy's layers into nodes (names, roles, locations), :func:`_wire` connects them (``from``
references resolved, arities checked, cycles found), and shape inference fills in the
costs. Every problem found on the way is collected, so ``check`` reports all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphspec.budget import enforce_budget
from graphspec.errors import SourceLocation, SpecError, SpecIssue
from graphspec.ir import INPUT, Graph, Node
from graphspec.limits import DEFAULT_LIMITS, Limits, check_classes, enforce_limits, scaled_out
from graphspec.ops import Input, Op
from graphspec.ops.base import _did_you_mean
from graphspec.ops.names import name_problem
from graphspec.schema import Spec
from graphspec.shapes import infer_shapes

MAX_LAYERS = 10_000
"""A bound so a typo such as ``repeat: 100000`` fails fast."""


@dataclass(frozen=True)
class _Wiring:
    """The inputs a placed node asks for, by name, and where its ``from`` key is."""

    node: str
    names: list[str]
    loc: SourceLocation


def build_graph(spec: Spec, *, check_budget: bool = True, limits: Limits = DEFAULT_LIMITS) -> Graph:
    """Build the encoder graph of ``spec`` and infer every node's shape and cost; refuse
    any size over ``limits`` (see :mod:`graphspec.limits`) before anything allocates it."""
    _check_layer_count(spec)
    check_classes(spec.classes, spec.source.locate(("classes",)), limits)
    graph = Graph(spec.name)
    graph.add(
        Node(
            INPUT,
            Input(channels=spec.input.channels, height=spec.input.height, width=spec.input.width),
            role="input",
            loc=spec.source.locate(("input",)),
        )
    )
    issues: list[SpecIssue] = []
    wiring = _place_layers(graph, spec, issues, limits)
    issues += _wire(graph, wiring)
    if not issues:
        issues += _cycle_issues(graph)
    if issues:
        raise SpecError(issues)
    infer_shapes(graph)
    enforce_limits(graph, limits)
    if check_budget:
        enforce_budget(graph, spec)
    return graph


def _check_layer_count(spec: Spec) -> None:
    count = sum(stage.repeat * len(stage.layers) for stage in spec.encoder)
    if count > MAX_LAYERS:
        raise SpecError.at(
            spec.source.locate(("encoder",)),
            f"too many layers (expected at most {MAX_LAYERS:,} after repeats, got {count:,})",
        )


def _place_layers(
    graph: Graph, spec: Spec, issues: list[SpecIssue], limits: Limits
) -> list[_Wiring]:
    """Add one node per layer of every stage copy; return what each wants to read."""
    smap = spec.source
    wiring: list[_Wiring] = []
    previous = INPUT
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
                name = _node_name(layer, stage.stage, counter, rep)
                counter += 1
                if not _placeable(graph, layer, name, rep, smap.locate((*path, "name")), issues):
                    continue
                if layer.name:
                    local[layer.name] = name
                scaled = _scaled_out(layer, spec, smap.locate((*path, "out")), limits)
                node = Node(name, scaled, "encoder", smap.locate(path))
                node.stage = stage.stage
                graph.add(node)
                names = _requested_inputs(layer, local, previous)
                wiring.append(_Wiring(name, names, smap.locate((*path, "from"))))
                previous = name
    graph.output = previous
    return wiring


def _node_name(layer: Op, stage: str, counter: int, rep: int) -> str:
    """A named layer keeps its name (``_<copy>`` on repeats); others are ``<stage>_<i>``."""
    if not layer.name:
        return f"{stage}_{counter}"
    return f"{layer.name}_{rep}" if rep else layer.name


def _placeable(
    graph: Graph, layer: Op, name: str, rep: int, loc: SourceLocation, issues: list[SpecIssue]
) -> bool:
    """Whether a layer's node name is allowed and new; record the issue if not."""
    if layer.name and not rep:
        issue = _name_issue(layer.name, loc, "layer name")
        if issue:
            issues.append(issue)
            return False
    if name in graph:
        first = graph[name].loc
        issues.append(
            SpecIssue(
                loc,
                f"duplicate name '{name}' (expected unique names, first used at line {first.line})",
            )
        )
        return False
    return True


def _requested_inputs(layer: Op, local: dict[str, str], previous: str) -> list[str]:
    """Names a layer reads: its ``from`` (stage-local names first), the previous layer by
    default, and for a combining op with one ``from`` the previous layer as well."""
    names = [local.get(n, n) for n in layer.inputs_named()]
    if layer.arity is None and len(names) == 1:
        names = [previous, *names]
    return names or [previous]


def _wire(graph: Graph, wiring: list[_Wiring]) -> list[SpecIssue]:
    """Connect each node to its inputs; return the problems with the requests."""
    issues: list[SpecIssue] = []
    hints: dict[str, str] = {}
    for want in wiring:
        op = graph[want.node].op
        if op.arity == 1 and len(want.names) != 1:
            issues.append(
                SpecIssue(
                    want.loc,
                    f"{op.op} takes one input (expected one name in `from`, got {len(want.names)})",
                )
            )
            continue
        if op.arity is None and len(set(want.names)) < 2:
            issues.append(
                SpecIssue(
                    want.loc,
                    f"{op.op} combines two or more inputs (expected "
                    f"at least two distinct names, got {want.names})",
                )
            )
            continue
        for port, name in enumerate(want.names):
            if name in graph:
                graph.connect(name, want.node, port)
            else:
                if name not in hints:  # once per name: difflib over every layer is costly
                    hints[name] = _suggest(name, list(graph.names))
                issues.append(SpecIssue(want.loc, f"unknown layer name '{name}'{hints[name]}"))
    # A repeated stage repeats its layers' mistakes at the same line: report each once.
    return list(dict.fromkeys(issues))


def _scaled_out(op: Op, spec: Spec, loc: SourceLocation, limits: Limits) -> Op:
    """Resolve ``out: classes`` and apply the width multiplier to every other ``out``."""
    out = getattr(op, "out", None)
    if out is None:
        return op
    if out == "classes":
        value = spec.classes
    elif spec.scale.width == 1.0:
        value = int(out)
    else:
        value = scaled_out(int(out), spec.scale.width, getattr(op, "groups", 1), loc, limits)
    return op.model_copy(update={"out": value})


def _name_issue(name: str, loc: SourceLocation, what: str) -> SpecIssue | None:
    """The schema's name rule again, for specs assembled in Python without validation."""
    problem = name_problem(name)
    message = f"reserved {what} '{name}': {problem} (expected another name)"
    return SpecIssue(loc, message) if problem else None


def _suggest(name: str, names: list[str]) -> str:
    hint = _did_you_mean(name, names)
    return hint if "did you mean" in hint else " (expected the name of a layer in this spec)"


def _cycle_issues(graph: Graph) -> list[SpecIssue]:
    cycle = graph.find_cycle()
    if not cycle:
        return []
    order = {n: i for i, n in enumerate(graph.names)}
    # The edge that points backwards in file order is the forward reference that closed it.
    src, dst = max(cycle, key=lambda e: order[e[0]] - order[e[1]])
    names = " -> ".join([e[0] for e in cycle] + [cycle[0][0]])
    return [
        SpecIssue(
            graph[dst].loc,
            f"cycle in the graph: {names} (expected layers to take inputs "
            f"only from earlier layers, got '{dst}' reading '{src}')",
        )
    ]
