"""The unpool module's two paths: a pool whose windows never overlap lets a channels_last
input go through ``F.max_unpool2d`` (placing equals summing there), anything else, and
deterministic mode, through the summing scatter; both give the same exact values."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from compiler import compile_graph
from compiler.emit import build_network
from compiler.ops import MaxUnpool, max_unpool2d
from graphspec import load_spec
from graphspec.ops import MaxUnpool as MaxUnpoolOp
from tests import SPECS

CL = torch.channels_last


def _pooled(kernel: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    source = torch.randn(2, 8, 13, 11).contiguous(memory_format=CL)
    return F.max_pool2d(source, kernel, stride, return_indices=True)


def test_disjoint_windows_take_the_native_kernel_and_keep_channels_last() -> None:
    values, indices = _pooled(2, 2)
    module = MaxUnpool((13, 11), disjoint_window=((2, 2), (2, 2), (0, 0)))
    got = module(values, indices)
    assert got.is_contiguous(memory_format=CL)
    expected = max_unpool2d(values.contiguous(), indices.contiguous(), (13, 11))
    assert torch.equal(got, expected)  # placing is summing: no position is hit twice
    assert torch.equal(got, F.max_unpool2d(values, indices, 2, 2, output_size=(13, 11)))


def test_deterministic_mode_and_overlapping_windows_use_the_summing_scatter() -> None:
    values, indices = _pooled(3, 2)  # overlapping windows: shared maxima must add up
    overlapping = MaxUnpool((13, 11))
    summed = overlapping(values, indices)
    manual = torch.zeros(2, 8, 13 * 11)
    for n in range(2):
        for c in range(8):
            for v, i in zip(values[n, c].flatten(), indices[n, c].flatten(), strict=True):
                manual[n, c, i] += v
    assert torch.equal(summed, manual.view(2, 8, 13, 11))
    values, indices = _pooled(2, 2)
    module = MaxUnpool((13, 11), disjoint_window=((2, 2), (2, 2), (0, 0)))
    torch.use_deterministic_algorithms(True)
    try:
        got = module(values, indices)  # F.max_unpool2d would raise here
    finally:
        torch.use_deterministic_algorithms(False)
    assert torch.equal(got, F.max_unpool2d(values, indices, 2, 2, output_size=(13, 11)))


@pytest.mark.parametrize(("kernel", "stride", "dilation", "disjoint"), [
    ((2, 2), (2, 2), (1, 1), True),
    ((3, 3), (2, 2), (1, 1), False),
    ((2, 2), (3, 3), (1, 1), True),
    ((2, 2), (2, 2), (2, 2), False),  # dilated: the window spans 3 pixels
    ((1, 3), (1, 3), (1, 1), True),
])  # fmt: skip
def test_disjoint_follows_the_pools_window(kernel, stride, dilation, disjoint) -> None:  # type: ignore[no-untyped-def]
    op = MaxUnpoolOp(pool="p", kernel=kernel, stride=stride, dilation=dilation, size=(8, 8))
    assert op.disjoint is disjoint


def test_segnet_small_unpools_know_their_pools_windows() -> None:
    graph = compile_graph(load_spec(SPECS / "segnet-small.yaml"))
    net = build_network(graph)
    unpools = [m for m in net.modules() if isinstance(m, MaxUnpool)]
    assert unpools and all(m.disjoint_window == ((2, 2), (2, 2), (0, 0)) for m in unpools)
