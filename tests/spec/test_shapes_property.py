"""Property test: graphspec's shape inference agrees with PyTorch, layer by layer.

Hypothesis draws random stacks of convs, pools, norms, activations and dropouts,
optionally ending in flatten + linear. Each stack is written as YAML text, loaded and
built by graphspec, and separately run through plain ``torch.nn`` modules, each module
constructed from the shape of the tensor it actually receives. Then:

* every node's inferred shape equals the tensor shape PyTorch produced at that layer;
* when PyTorch refuses a layer (the map became too small), graphspec raises SpecError
  for that same layer, and graphspec raises only where PyTorch does;
* parameters equal the modules' numel, FLOPs equal FlopCounterMode's count.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import graphspec
from graphspec import SpecError

ACTIVATIONS = ["relu", "leaky_relu", "gelu", "silu", "sigmoid"]


@dataclass
class Stack:
    channels: int
    height: int
    width: int
    classes: int
    stages: list[list[dict[str, Any]]] = field(default_factory=list)

    @property
    def layers(self) -> list[tuple[int, int, dict[str, Any]]]:
        """(stage index, index in stage, layer) in order."""
        return [(s, j, layer) for s, st_ in enumerate(self.stages) for j, layer in enumerate(st_)]

    def yaml(self) -> str:
        lines = [
            "name: prop",
            f"input: {{channels: {self.channels}, height: {self.height}, width: {self.width}}}",
            f"classes: {self.classes}",
            "encoder:",
        ]
        n = 0
        for s, stage in enumerate(self.stages):
            lines += [f"  - stage: st{s}", "    layers:"]
            for layer in stage:
                items = ", ".join(f"{k}: {_yaml_value(v)}" for k, v in layer.items())
                lines.append(f"      - {{{items}, name: l{n}}}")
                n += 1
        return "\n".join(lines) + "\n"


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _pair(v: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (v[0], v[1]) if isinstance(v, tuple | list) else (v, v)


@st.composite
def sizes(draw, lo: int, hi: int) -> int | tuple[int, int]:
    """An int, or (sometimes) an [h, w] pair, each in lo..hi."""
    if draw(st.integers(0, 4)) == 0:
        return (draw(st.integers(lo, hi)), draw(st.integers(lo, hi)))
    return draw(st.integers(lo, hi))


@st.composite
def paddings(draw, kernel: int | tuple[int, int]) -> int | tuple[int, int]:
    """Padding 0..k//2 per axis, in the same form (int or pair) as the kernel."""
    kh, kw = _pair(kernel)
    if isinstance(kernel, tuple):
        return (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    return draw(st.integers(0, kh // 2))


@st.composite
def conv_layer(draw, channels: int) -> dict[str, Any]:
    out = draw(st.integers(1, 12))
    divisors = [g for g in range(1, min(channels, out) + 1) if channels % g == 0 and out % g == 0]
    kernel = draw(sizes(1, 5))
    layer: dict[str, Any] = {"op": "conv", "out": out, "kernel": kernel}
    if draw(st.booleans()):
        layer["stride"] = draw(sizes(1, 3))
    if draw(st.booleans()):
        layer["padding"] = draw(paddings(kernel))
    if draw(st.booleans()):
        layer["dilation"] = draw(sizes(1, 2))
    groups = draw(st.sampled_from(divisors))
    if groups > 1 or draw(st.booleans()):
        layer["groups"] = groups
    if draw(st.booleans()):
        layer["bias"] = draw(st.booleans())
    return layer


@st.composite
def pool_layer(draw) -> dict[str, Any]:
    op = draw(st.sampled_from(["maxpool", "avgpool"]))
    kernel = draw(sizes(1, 4))
    layer: dict[str, Any] = {"op": op, "kernel": kernel}
    if draw(st.booleans()):
        layer["stride"] = draw(sizes(1, 3))
    if draw(st.booleans()):
        layer["padding"] = draw(paddings(kernel))
    if draw(st.booleans()):
        layer["ceil_mode"] = draw(st.booleans())
    if op == "maxpool" and draw(st.booleans()):
        layer["dilation"] = draw(sizes(1, 2))
    if op == "avgpool" and draw(st.booleans()):
        layer["count_include_pad"] = draw(st.booleans())
    return layer


@st.composite
def stacks(draw) -> Stack:
    stack = Stack(
        channels=draw(st.integers(1, 8)),
        height=draw(st.integers(1, 24)),
        width=draw(st.integers(1, 24)),
        classes=draw(st.integers(1, 10)),
    )
    channels = stack.channels
    layers: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "batchnorm", "act", "dropout"]))
        if kind == "conv":
            layer = draw(conv_layer(channels))
            channels = layer["out"]
        elif kind == "pool":
            layer = draw(pool_layer())
        elif kind == "batchnorm":
            layer = {"op": "batchnorm"}
        elif kind == "act":
            layer = {"op": draw(st.sampled_from(ACTIVATIONS))}
        else:
            layer = {"op": "dropout", "p": draw(st.sampled_from([0.0, 0.1, 0.5]))}
        layers.append(layer)
    if draw(st.booleans()):
        layers.append({"op": "flatten"})
        for i in range(draw(st.integers(1, 2))):
            last = i == 1 or draw(st.booleans())
            out = "classes" if last and draw(st.booleans()) else draw(st.integers(1, 16))
            linear: dict[str, Any] = {"op": "linear", "out": out}
            if draw(st.booleans()):
                linear["bias"] = draw(st.booleans())
            layers.append(linear)
            if not last:
                layers.append({"op": draw(st.sampled_from(["relu", "dropout"]))})
            else:
                break
    # Split the layers into 1-3 stages.
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(layers) - 1)), max_size=2)))
    bounds = [0, *[c for c in cuts if c < len(layers)], len(layers)]
    stack.stages = [layers[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    return stack


def torch_module(layer: dict[str, Any], x: torch.Tensor, classes: int) -> nn.Module:
    """The torch.nn module for ``layer``, sized from its actual input ``x``."""
    op = layer["op"]
    if op == "conv":
        return nn.Conv2d(
            x.shape[1],
            layer["out"],
            kernel_size=_pair(layer["kernel"]),
            stride=_pair(layer.get("stride", 1)),
            padding=_pair(layer.get("padding", 0)),
            dilation=_pair(layer.get("dilation", 1)),
            groups=layer.get("groups", 1),
            bias=layer.get("bias", True),
        )
    if op == "maxpool":
        stride = layer.get("stride")
        return nn.MaxPool2d(
            _pair(layer["kernel"]),
            stride=None if stride is None else _pair(stride),
            padding=_pair(layer.get("padding", 0)),
            dilation=_pair(layer.get("dilation", 1)),
            ceil_mode=layer.get("ceil_mode", False),
        )
    if op == "avgpool":
        stride = layer.get("stride")
        return nn.AvgPool2d(
            _pair(layer["kernel"]),
            stride=None if stride is None else _pair(stride),
            padding=_pair(layer.get("padding", 0)),
            ceil_mode=layer.get("ceil_mode", False),
            count_include_pad=layer.get("count_include_pad", True),
        )
    if op == "batchnorm":
        return nn.BatchNorm2d(x.shape[1])
    if op == "linear":
        out = classes if layer["out"] == "classes" else layer["out"]
        return nn.Linear(x.shape[1], out, bias=layer.get("bias", True))
    simple = {
        "relu": nn.ReLU,
        "leaky_relu": nn.LeakyReLU,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "sigmoid": nn.Sigmoid,
        "flatten": nn.Flatten,
    }
    if op == "dropout":
        return nn.Dropout(layer.get("p", 0.5))
    return simple[op]()


@dataclass
class TorchRun:
    shapes: list[tuple[int, ...]]  # output shape (without batch) of each layer that ran
    params: list[int]  # numel of each layer's module
    flops: int
    failed_at: int | None  # index of the layer PyTorch refused, if any
    error: str = ""


def run_torch(stack: Stack) -> TorchRun:
    torch.manual_seed(0)
    x = torch.randn(1, stack.channels, stack.height, stack.width)
    shapes, params = [], []
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        for i, (_, _, layer) in enumerate(stack.layers):
            module = torch_module(layer, x, stack.classes).eval()
            params.append(sum(p.numel() for p in module.parameters()))
            try:
                x = module(x)
            except RuntimeError as exc:
                return TorchRun(shapes, params, counter.get_total_flops(), i, str(exc))
            shapes.append(tuple(x.shape[1:]))
    return TorchRun(shapes, params, counter.get_total_flops(), None)


def check_against_torch(stack: Stack) -> bool:
    """Assert graphspec agrees with PyTorch on ``stack``; return whether PyTorch ran it."""
    text = stack.yaml()
    ref = run_torch(stack)
    spec = graphspec.load_spec(text)  # a drawn stack is always schema-valid
    try:
        graph = graphspec.build_graph(spec)
    except SpecError as exc:
        graph, err = None, exc
    if ref.failed_at is not None:
        s, j, _ = stack.layers[ref.failed_at]
        assert graph is None, f"graphspec built a stack PyTorch refuses:\n{text}\n{ref.error}"
        assert err.key_path == f"encoder[{s}].layers[{j}]", (text, ref.error, str(err))
        assert err.line == 6 + 2 * s + ref.failed_at + 1, (text, str(err))
        return False
    assert graph is not None, f"graphspec refused a stack PyTorch runs:\n{text}\n{err}"
    names = [f"l{i}" for i in range(len(stack.layers))]
    assert [graph[n].shape for n in names] == ref.shapes, text
    assert [graph[n].params for n in names] == ref.params, text
    total = graphspec.Totals(params=sum(ref.params), flops=ref.flops)
    assert graphspec.totals(graph) == total, text
    assert graph.output == names[-1]
    return True


PROPERTY = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_inferred_shapes_match_pytorch():
    outcomes = {"ran": 0, "refused": 0, "flatten": 0}

    @PROPERTY
    @given(stacks())
    def check(stack: Stack) -> None:
        ran = check_against_torch(stack)
        outcomes["ran" if ran else "refused"] += 1
        outcomes["flatten"] += any(layer["op"] == "flatten" for _, _, layer in stack.layers)

    check()
    # The property is only meaningful if many drawn stacks run in PyTorch, a fair number
    # are refused, and a fair number end in flatten + linear.
    assert outcomes["ran"] >= 40 and outcomes["refused"] >= 10, outcomes
    assert outcomes["flatten"] >= 12, outcomes


# Hand-picked edge cases that random draws hit rarely, checked the same way, with whether
# PyTorch runs them.
EDGE_CASES = [
    # ceil_mode: the last window would start in the right padding, so PyTorch drops it.
    (Stack(1, 5, 5, 2, [[{"op": "maxpool", "kernel": 2, "stride": 2, "padding": 1,
                          "ceil_mode": True}]]), True),
    (Stack(2, 6, 6, 2, [[{"op": "avgpool", "kernel": 3, "stride": 2, "padding": 1,
                          "ceil_mode": True}]]), True),
    # 1x1 input through a 1x1 conv, a 1x1 pool and a linear, across two stages.
    (Stack(3, 1, 1, 4, [[{"op": "conv", "out": 4, "kernel": 1}, {"op": "maxpool", "kernel": 1}],
                        [{"op": "flatten"}, {"op": "linear", "out": "classes"}]]), True),
    # A grouped conv whose dilated kernel (9x7) is exactly as large as the input.
    (Stack(4, 9, 7, 2, [[{"op": "conv", "out": 8, "kernel": 3, "groups": 4,
                          "dilation": [4, 3]}]]), True),
    # Rectangular kernel, stride and padding, groups, no bias.
    (Stack(3, 8, 5, 2, [[{"op": "conv", "out": 6, "kernel": [3, 1], "stride": [2, 1],
                          "padding": [1, 0], "groups": 3, "bias": False}]]), True),
    # A dilated conv one pixel too large (9 > 8): refused by both.
    (Stack(4, 8, 9, 2, [[{"op": "conv", "out": 8, "kernel": 3, "dilation": 4}]]), False),
    # A pool in the second stage that leaves zero pixels.
    (Stack(1, 3, 3, 2, [[{"op": "relu"}], [{"op": "maxpool", "kernel": 4}]]), False),
]  # fmt: skip


@pytest.mark.parametrize(
    "stack, runs", EDGE_CASES, ids=[s.yaml().splitlines()[-1].strip() for s, _ in EDGE_CASES]
)
def test_edge_cases_match_pytorch(stack: Stack, runs: bool):
    assert check_against_torch(stack) is runs


def test_yaml_text_of_a_stack_is_what_is_loaded():
    stack = EDGE_CASES[4][0]
    assert stack.yaml() == textwrap.dedent(
        """\
        name: prop
        input: {channels: 3, height: 8, width: 5}
        classes: 2
        encoder:
          - stage: st0
            layers:
              - {op: conv, out: 6, kernel: [3, 1], stride: [2, 1], padding: [1, 0], \
groups: 3, bias: false, name: l0}
        """
    )
    graph = graphspec.build_graph(graphspec.load_spec(stack.yaml()))
    # (8 + 2 - 3) // 2 + 1 = 4 rows, (5 - 1) // 1 + 1 = 5 columns; 6 * (3 / 3) * 3 weights.
    assert graph["l0"].shape == (6, 4, 5)
    assert graph["l0"].params == 18


# --- Regressions: bugs this suite found, since fixed ----------------------------------------


def test_maxpool_padding_limit_ignores_dilation_like_pytorch():
    # PyTorch bounds pool padding by kernel // 2, not by the dilated kernel: kernel 2,
    # dilation 3, padding 2 is refused (graphspec used to accept it).
    stack = Stack(3, 8, 8, 2, [[{"op": "maxpool", "kernel": 2, "stride": 1, "padding": 2,
                                 "dilation": 3}]])  # fmt: skip
    with pytest.raises(RuntimeError, match="pad should be"):
        nn.MaxPool2d(2, 1, padding=2, dilation=3)(torch.zeros(1, 3, 8, 8))
    assert check_against_torch(stack) is False


def test_conv_out_not_divisible_by_groups_is_an_error():
    # graphspec used to round `out: 6` down to 4 channels silently (groups: 4).
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(4, 6, 1, groups=4)
    text = textwrap.dedent(
        """\
        name: t
        input: {channels: 4, height: 8, width: 8}
        classes: 2
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 6, kernel: 1, groups: 4}
        """
    )
    with pytest.raises(SpecError) as info:
        graphspec.build_graph(graphspec.load_spec(text))
    assert (info.value.line, info.value.column) == (7, 9)
    assert "groups" in info.value.message
