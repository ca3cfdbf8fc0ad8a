"""What the emitters allocate: pool indices only where an unpool reads them, ReLUs that
overwrite their input only where nothing else needs it, generated source that drops what
GraphNet drops (``tests/harness/tools/test_vs_handwritten.py`` compares their peaks),
and a summing unpool that keeps channels_last.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from compiler import compile_graph
from compiler.emit import GraphNet, generate_source, plan_steps
from compiler.ops import MaxPoolWithIndices, max_unpool2d
from graphspec import INPUT, Graph, Node, SourceLocation, load_spec
from graphspec.ops import Add, BatchNorm, Conv, Input, MaxPool, ReLU
from tests import SPECS

LOC = SourceLocation("<test>")


def _graph() -> Graph:
    """``input -> relu0`` (the caller's tensor), ``relu0 -> c -> {r_shared, skip}``
    (c has a second reader), ``c -> bn -> r_bn`` (in place), ``r_bn -> pool -> r_pool``
    (a pool's output is not fresh), ``(r_shared, skip_in) -> sum -> r_sum`` (in place)."""
    graph = Graph("lean")
    graph.add(Node(INPUT, Input(channels=4, height=8, width=8), "input", LOC, shape=(4, 8, 8)))
    layers = [
        ("relu0", ReLU(), [INPUT], (4, 8, 8)),
        ("c", Conv(out=4, kernel=3, padding=1), ["relu0"], (4, 8, 8)),
        ("r_shared", ReLU(), ["c"], (4, 8, 8)),
        ("bn", BatchNorm(), ["c"], (4, 8, 8)),
        ("r_bn", ReLU(), ["bn"], (4, 8, 8)),
        ("pool", MaxPool(kernel=1), ["r_bn"], (4, 8, 8)),
        ("r_pool", ReLU(), ["pool"], (4, 8, 8)),
        ("sum", Add(), ["r_shared", "r_pool", "c"], (4, 8, 8)),
        ("r_sum", ReLU(), ["sum"], (4, 8, 8)),
    ]
    for name, op, inputs, shape in layers:
        graph.add(Node(name, op, "encoder", LOC, shape=shape), inputs)
    graph.output = "r_sum"
    graph.check()
    return graph


def test_relus_run_in_place_only_on_a_fresh_tensor_nothing_else_reads() -> None:
    in_place = {step.node for step in plan_steps(_graph()) if step.in_place}
    assert in_place == {"r_bn", "r_sum"}
    net = GraphNet(_graph())
    assert net.r_bn.inplace and net.r_sum.inplace
    assert not (net.relu0.inplace or net.r_shared.inplace or net.r_pool.inplace)


def test_in_place_relus_leave_outputs_inputs_and_gradients_unchanged() -> None:
    torch.manual_seed(0)
    net = GraphNet(_graph())
    plain = copy.deepcopy(net)
    for module in plain.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    x = torch.randn(2, 4, 8, 8)
    kept = x.clone()
    outs = []
    for model in (net, plain):
        out = model(x)
        out.square().sum().backward()
        outs.append(out.detach())
    assert torch.equal(x, kept)  # the caller's tensor is never overwritten
    assert torch.equal(outs[0], outs[1])
    for (name, a), b in zip(net.named_parameters(), plain.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad), name


def test_a_pool_returns_indices_only_when_an_unpool_reads_them() -> None:
    for name, with_indices in (("unet-small", False), ("segnet-small", True)):
        graph = compile_graph(load_spec(SPECS / f"{name}.yaml"))
        pools = [s for s in plan_steps(graph) if s.node.startswith("pool")]
        assert len(pools) == 3
        assert all(len(s.outputs) == (2 if with_indices else 1) for s in pools), name
        net = GraphNet(graph)
        kinds = {type(getattr(net, s.node)) for s in pools}
        assert kinds == {MaxPoolWithIndices if with_indices else nn.MaxPool2d}, name
        assert ("pool1_indices" in generate_source(graph)) is with_indices


SEED_X = [[120.0, 150.0, 120.0], [100.0, 50.0, 110.0], [25.0, 25.0, 10.0]]
SEED_DECODER_IN = [[300.0, 450.0], [100.0, 250.0]]
SEED_UNPOOLED = [[0.0, 750.0, 0.0], [100.0, 0.0, 250.0], [0.0, 0.0, 0.0]]  # 300 + 450 at (0,1)


def test_channels_last_unpool_sums_the_seed_example_and_stays_channels_last() -> None:
    """The seed lecture's overlapping 2x2 stride-1 pool, in channel 0 of a two-channel
    channels_last map; channel 1 is X transposed, whose windows pick other places."""
    seed = torch.tensor(SEED_X)
    x = torch.stack([seed, seed.T]).unsqueeze(0).contiguous(memory_format=torch.channels_last)
    _, indices = F.max_pool2d(x, 2, stride=1, return_indices=True)
    # X^T = [[120,100,25],[150,50,25],[120,110,10]]: 150 at (1,0) wins both left windows,
    # 100 at (0,1) the top right, 110 at (2,1) the bottom right
    assert indices[0, 1].tolist() == [[3, 1], [3, 7]]
    values = torch.tensor([SEED_DECODER_IN, [[1.0, 2.0], [3.0, 4.0]]]).unsqueeze(0)
    values = values.contiguous(memory_format=torch.channels_last)
    out = max_unpool2d(values, indices, (3, 3))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert out[0, 0].tolist() == SEED_UNPOOLED
    assert out[0, 1].tolist() == [[0.0, 2.0, 0.0], [4.0, 0.0, 0.0], [0.0, 4.0, 0.0]]


def test_channels_last_unpool_is_bitwise_the_nchw_one_forward_and_backward() -> None:
    gen = torch.Generator().manual_seed(0)
    source = torch.randn(2, 5, 13, 11, generator=gen)
    pooled, indices = F.max_pool2d(source, 3, stride=2, padding=1, return_indices=True)
    values = torch.randn(pooled.shape, generator=gen)
    weights = torch.randn(source.shape, generator=gen)
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        leaf = values.clone(memory_format=layout).requires_grad_(True)
        out = max_unpool2d(leaf, indices.contiguous(memory_format=layout), (13, 11))
        assert out.is_contiguous(memory_format=layout)
        (out * weights).sum().backward()
        results.append((out.detach(), leaf.grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])
