"""Graph FLOPs (2 x MACs) against ``torch.utils.flop_counter.FlopCounterMode`` on the
compiled module, ``graphspec summary --json`` against both, and the harness's meta-device
cross-check (``benchmarks.cost.measure.counted_gflops``) against the static count."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.cost.measure import counted_gflops, flops_mismatch
from compiler import compile_graph, compile_spec, count_parameters
from graphspec import load_spec, totals
from graphspec.cli import main
from tests import SPECS

INLINE = {
    "tied": textwrap.dedent(
        """
        name: tied-flops
        task: segmentation
        input: {channels: 3, height: 20, width: 26}
        classes: 3
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, padding: 1, name: c1}
              - {op: batchnorm}
              - {op: relu}
              - {op: conv, out: 12, kernel: 3, padding: 1, name: c2}
              - {op: relu}
              - {op: maxpool, kernel: 2, name: p1}
              - {op: conv, out: 16, kernel: 3, stride: 2, padding: 1, name: c3}
              - {op: relu}
        decoder: {upsample: tied, skips: add}
        head: {type: segmentation}
        """
    ),
    "grouped-dilated": textwrap.dedent(
        """
        name: grouped-dilated
        task: segmentation
        input: {channels: 4, height: 30, width: 34}
        classes: 3
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, padding: 2, dilation: 2, groups: 2, name: c1}
              - {op: relu}
              - {op: conv, out: 16, kernel: [3, 5], padding: [1, 2], groups: 4, name: c2}
              - {op: avgpool, kernel: 2}
              - {op: conv, out: 16, kernel: 3, stride: 2, padding: 2, dilation: 2, groups: 8}
              - {op: relu}
        decoder: {upsample: transposed, skips: concat}
        head: {type: segmentation}
        """
    ),
    "bilinear-fc": textwrap.dedent(
        """
        name: bilinear-fc
        task: segmentation
        input: {channels: 3, height: 24, width: 20}
        classes: 2
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 6, kernel: 3, padding: 1}
              - {op: relu}
              - {op: maxpool, kernel: 2}
              - {op: conv, out: 8, kernel: 3, stride: 2, padding: 1}
              - {op: relu}
              - {op: flatten}
              - {op: linear, out: 10, name: fc}
        decoder: {upsample: bilinear, skips: concat}
        head: {type: segmentation}
        """
    ),
}
NAMES = ["segnet-small", "unet-small", "fcn-small", *INLINE]


def _spec_path(name: str, tmp_path: Path) -> Path:
    if name in INLINE:
        path = tmp_path / f"{name}.yaml"
        path.write_text(INLINE[name])
        return path
    return SPECS / f"{name}.yaml"


def _count(model: torch.nn.Module, batch: int) -> FlopCounterMode:
    c, h, w = model.graph["input"].shape
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(batch, c, h, w))
    return counter


@pytest.mark.parametrize("name", NAMES)
def test_graph_flops_equal_flop_counter(name: str, tmp_path, capsys) -> None:
    model = compile_spec(_spec_path(name, tmp_path)).eval()
    graph = model.graph
    counter = _count(model, batch=1)
    total = totals(graph)
    assert total.flops > 0
    assert total.flops == counter.get_total_flops()
    # Per node too: every module's count equals the node's FLOPs.
    per_module = counter.get_flop_counts()
    for node in graph:
        if node.name == "input":
            continue
        counted = sum(per_module.get(f"GraphNet.{node.name}", {}).values())
        assert counted == node.flops, node.name
    # Linear in the batch.
    assert _count(model, batch=3).get_total_flops() == 3 * total.flops

    # graphspec summary --json reports the same totals.
    assert main(["summary", str(_spec_path(name, tmp_path)), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["total_flops"] == counter.get_total_flops()
    assert info["total_params"] == count_parameters(model)
    assert sum(row["flops"] for row in info["layers"]) == info["total_flops"]
    assert sum(row["params"] for row in info["layers"]) == info["total_params"]
    assert info["gflops"] == pytest.approx(info["total_flops"] / 1e9)


def test_hand_computed_flops_of_the_grouped_dilated_spec(tmp_path) -> None:
    """2 x MACs: conv = 2 * out * (in / groups) * kh * kw * H_out * W_out; a transposed
    conv counts over its *input* positions, as FlopCounterMode does."""
    model = compile_spec(_spec_path("grouped-dilated", tmp_path))
    flops = {n.name: n.flops for n in model.graph}
    assert flops["c1"] == 2 * 8 * (4 // 2) * 9 * 30 * 34
    assert flops["c2"] == 2 * 16 * (8 // 4) * 15 * 30 * 34
    # 16 x 15x17 -> 3x3/2, padding 2, dilation 2: (15 + 4 - 4 - 1) // 2 + 1 = 8, 9
    assert model.graph["s_4"].shape == (16, 8, 9)
    assert flops["s_4"] == 2 * 16 * (16 // 8) * 9 * 8 * 9
    # its mirror: transposed, same groups, over the 8x9 input positions
    assert flops["dec_s_4"] == 2 * 16 * (16 // 8) * 9 * 8 * 9
    assert _count(model, batch=1).get_total_flops() == sum(flops.values())


@pytest.mark.parametrize(
    "name", ["segnet-small", "unet-small", "fcn-small", "deconvnet-small", "ssd-small"]
)
def test_counted_gflops_equal_the_static_count(name: str) -> None:
    graph = compile_graph(load_spec(SPECS / f"{name}.yaml"))
    assert counted_gflops(graph) == pytest.approx(totals(graph).flops / 1e9, rel=1e-12)


def test_counted_gflops_work_at_batch_one_on_a_bn_net_with_a_1x1_map() -> None:
    # deconvnet-vgg16 has BatchNorm after its 7x7 fc6-as-conv (a 1x1 map): counting a model in
    # train mode raised "Expected more than 1 value per channel when training".
    graph = compile_graph(load_spec(SPECS / "deconvnet-vgg16.yaml"))
    assert any(node.op.op == "batchnorm" and node.shape[1:] == (1, 1) for node in graph)
    assert counted_gflops(graph) == pytest.approx(totals(graph).gflops, rel=0.01)


def test_counting_draws_no_random_numbers_and_needs_no_model() -> None:
    # The harness seeds, builds the model, then counts; counting must not shift the random
    # stream that training follows.
    graph = compile_graph(load_spec(SPECS / "segnet-small.yaml"))
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    counted_gflops(graph)
    assert torch.equal(torch.rand(4), expected)


def test_flops_mismatch_tolerates_one_percent() -> None:
    assert flops_mismatch(1.0, 1.009) is None
    assert flops_mismatch(1.0, 1.02) == "static GFLOPs 1.0000 differ from FlopCounterMode 1.0200"
