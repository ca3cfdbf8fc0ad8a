"""Every spec in specs/ loads and builds; the small example encoders match plain torch.nn.

The torch models below are written out by hand from the layer lists in the YAML files, so
they check graphspec's shapes, parameter counts and FLOPs independently.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import graphspec
from tests import SPECS

ALL_SPECS = sorted(SPECS.glob("*.yaml")) + sorted(SPECS.glob("*.yml"))


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: p.name)
def test_spec_loads_and_builds(path: Path):
    spec = graphspec.load_spec(path)
    graph = graphspec.build_graph(spec)  # also enforces the spec's budget, if any
    assert graph.find_cycle() == []
    assert [n.name for n in graph if not graph.inputs_of(n.name)] == [graphspec.INPUT]
    output = graph.output
    assert output in graph
    assert _descendants(graph, graphspec.INPUT) | {graphspec.INPUT} == set(graph.names)
    for node in graph:
        assert all(isinstance(d, int) and d >= 1 for d in node.shape), node.name
        assert node.params >= 0 and node.flops >= 0, node.name
    totals = graphspec.totals(graph)
    assert totals.params == sum(node.params for node in graph)
    # Every layer's recorded location is the start of its mapping in the file.
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    for node in graph:
        if node.role != "encoder":
            continue
        loc = node.loc
        char = lines[loc.line - 1][loc.column - 1]
        assert char == "{" or char.isalpha(), (node.name, loc)


def _descendants(graph: graphspec.Graph, name: str) -> set[str]:
    """Every node reachable from ``name`` (``name`` excluded unless on a cycle)."""
    found: set[str] = set()
    todo = [name]
    while todo:
        for succ in graph.consumers(todo.pop()):
            if succ not in found:
                found.add(succ)
                todo.append(succ)
    return found


def test_there_are_example_specs():
    names = {p.name for p in ALL_SPECS}
    assert {
        "vgg16.yaml",
        "tiny-encoder.yaml",
        "encoder-residual.yaml",
        "classifier-small.yaml",
    } <= names


def _reference(model: nn.Module, shape: tuple[int, int, int]) -> tuple[tuple[int, ...], int, int]:
    """(output shape without batch, parameter count, FlopCounterMode FLOPs) of ``model``."""
    model.eval()
    x = torch.randn(1, *shape)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        y = model(x)
    params = sum(p.numel() for p in model.parameters())
    return tuple(y.shape[1:]), params, counter.get_total_flops()


def _build(name: str) -> tuple[graphspec.Spec, graphspec.Graph]:
    spec = graphspec.load_spec(SPECS / name)
    return spec, graphspec.build_graph(spec)


def _out(graph: graphspec.Graph) -> tuple[int, ...]:
    return graph[graph.output].shape


def test_tiny_encoder_matches_torch():
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
    )
    shape, params, flops = _reference(model, (3, 64, 64))
    spec, graph = _build("tiny-encoder.yaml")
    assert (spec.task, spec.classes, spec.input.height, spec.input.width) == (
        "segmentation",
        4,
        64,
        64,
    )
    assert _out(graph) == shape == (32, 16, 16)
    assert graph["pool1"].shape == (16, 32, 32)
    assert graphspec.totals(graph) == graphspec.Totals(params=params, flops=flops)


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(x)  # block_in
        return self.body(x) + x  # block_out


def test_encoder_residual_matches_torch():
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        _ResidualBlock(16),
        _ResidualBlock(16),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, 1),
        nn.ReLU(),
    )
    shape, params, flops = _reference(model, (3, 64, 64))
    _, graph = _build("encoder-residual.yaml")
    assert _out(graph) == shape == (32, 16, 16)
    assert graphspec.totals(graph) == graphspec.Totals(params=params, flops=flops)
    # The stage is repeated twice: the second copy's names get a suffix, and each add
    # reads its own copy's block input.
    for suffix in ("", "_1"):
        block_out = f"block_out{suffix}"
        assert isinstance(graph[block_out].op, graphspec.ops.Add)
        assert f"block_in{suffix}" in graph.inputs_of(block_out)
        assert len(graph.inputs_of(block_out)) == 2
        assert graph[block_out].shape == (16, 32, 32)
    assert graph.inputs_of("block_in_1") == ["block_out"]
