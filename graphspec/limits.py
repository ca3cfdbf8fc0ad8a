"""Resource caps: the bounds every graph must meet before anything is allocated.

A spec is data from anywhere (a CI run, a fuzzer, a typo), so a size a real network never
has (``out: 1000000000``, a 100000 x 100000 input, ``scale: 2147483647`` forty times) is
refused at the offending line, with the cap's name and value, instead of reaching PyTorch
as a multi-terabyte allocation or overflowing a float in the totals. The caps are a frozen
:class:`Limits`; :data:`DEFAULT_LIMITS` is what ``build_graph``, ``compile_graph`` and the
CLI use, and ``build_graph(spec, limits=Limits(max_channels=...))`` changes them from
Python. docs/limits.md has the table. All arithmetic here is on Python ints, so nothing
overflows whatever the spec says.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from math import prod

from graphspec.errors import SourceLocation, SpecError, SpecIssue
from graphspec.ir import INPUT, Graph, Node
from graphspec.ops import ConvTranspose


@dataclass(frozen=True)
class Limits:
    """Caps on a graph's sizes and costs (per image, batch excluded)."""

    max_channels: int = 65_536
    """Channels of any feature map (and ``classes``)."""
    max_side: int = 16_384
    """Height or width of any feature map, the input included."""
    max_pixels: int = 2**26
    """Height x width of any feature map (8192 x 8192)."""
    max_elements: int = 2**31 - 1
    """Values in any one output (C x H x W, or a flattened vector): PyTorch's int32 indexing."""
    max_params: int = 10**10
    """Parameters of the whole network (a tied weight counted once)."""
    max_gflops: int = 10**6
    """GFLOPs (2 x MACs) of the whole network per image."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{f.name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = Limits()
"""The caps used unless a caller passes others."""


def _exceeds(what: str, got: int, cap: str, limits: Limits) -> str:
    value = getattr(limits, cap)
    return f"{what} over the resource cap (expected at most {cap}={value:,}, got {got:,})"


def scaled_out(out: int, width: float, groups: int, loc: SourceLocation, limits: Limits) -> int:
    """``out`` x ``scale.width`` rounded (a multiple of ``groups``), refused at ``loc``
    before the product can overflow a float or name an absurd width."""
    product = out * width  # both finite and bounded (out <= 2**31 - 1, width < 1.8e308)
    if product > limits.max_channels + 1:  # inf compares greater too
        shown = f"{product:.6g}" if product != float("inf") else "inf"
        raise SpecError.at(
            loc,
            f"out {out} x scale.width {width:g} = {shown} channels, over the resource cap "
            f"(expected at most max_channels={limits.max_channels:,})",
        )
    value = max(1, round(product))
    return max(groups, value // groups * groups)  # keep scaled grouped convs valid


def check_classes(classes: int, loc: SourceLocation, limits: Limits) -> None:
    """``classes`` becomes a layer's width (a head conv, ``out: classes``)."""
    if classes > limits.max_channels:
        raise SpecError.at(loc, _exceeds("classes", classes, "max_channels", limits))


def node_issue(node: Node, limits: Limits) -> str | None:
    """What is wrong with one inferred node's size, or None: channels, sides, pixels and
    elements of its output, and a transposed conv's stride longer than its padded output."""
    shape = node.shape
    what = _describe(node)
    if len(shape) == 3:
        c, h, w = shape
        if c > limits.max_channels:
            return _exceeds(f"{what} channels", c, "max_channels", limits)
        if max(h, w) > limits.max_side:
            return _exceeds(f"{what} side ({h}x{w})", max(h, w), "max_side", limits)
        if h * w > limits.max_pixels:
            return _exceeds(f"{what} size ({h}x{w})", h * w, "max_pixels", limits)
    if prod(shape) > limits.max_elements:
        return _exceeds(f"{what} values", prod(shape), "max_elements", limits)
    return _stride_issue(node, what)


def _describe(node: Node) -> str:
    if node.name == INPUT:
        return "the input"
    if node.role in ("decoder", "head"):  # a pass's node, located at the layer it derives from
        return f"the {node.role}'s {node.op.op} ({node.name}) output"
    return f"{node.op.op} output"


def _stride_issue(node: Node, what: str) -> str | None:
    """A transposed conv runs on its input zero-stuffed by the stride, so a stride longer
    than the padded output it makes only costs time (a ``maxpool`` of stride 999999999
    mirrored this way took 32 s a forward). Plain convs and pools are not capped: PyTorch
    runs a stride longer than the map, which just reads the first window."""
    if not isinstance(node.op, ConvTranspose) or len(node.shape) != 3:
        return None
    sizes = node.shape[1:]
    for axis, (s, n, p) in enumerate(zip(node.op.stride, sizes, node.op.padding, strict=True)):
        if s > n + 2 * p:
            side = ("height", "width")[axis]
            return (
                f"{what.removesuffix(' output')} stride {s} is longer than the map it makes "
                f"(expected at most {n + 2 * p}, the padded output {side}, got {s})"
            )
    return None


def enforce_limits(graph: Graph, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise a :class:`SpecError` at the first node (in topological order) over a cap, or
    at the node where the running parameter or FLOP total first passes its cap (a
    two-stage head's per-RoI nodes count at the stated RoI count, as in the totals)."""
    params = flops = 0
    max_flops = limits.max_gflops * 10**9
    layout = graph.detection.two_stage if graph.detection is not None else None
    for node in graph.topological():
        issue = node_issue(node, limits)
        params += node.own_params
        times = layout.rois_of(node.name) if layout is not None and node.per_roi else 1
        flops += node.flops * times
        if issue is None and params > limits.max_params:
            issue = _exceeds("the network's parameters", params, "max_params", limits)
        if issue is None and flops > max_flops:
            issue = (
                f"the network's GFLOPs over the resource cap (expected at most "
                f"max_gflops={limits.max_gflops:,}, got {flops / 1e9:,.6g} by this layer)"
            )
        if issue is not None:
            raise SpecError([SpecIssue(node.loc, issue)])
