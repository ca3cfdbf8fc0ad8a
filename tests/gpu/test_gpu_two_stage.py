"""GPU: the two-stage networks on CUDA against the same weights on the CPU.

Skipped without CUDA. Each small two-stage spec (Mask R-CNN too) runs one training step on
the device (RoI sampling, the losses, backward) and, in eval mode with the same given RoIs,
must score
them as the CPU does (class logits and box deltas to 1e-4 relative: cuDNN and MKL sum in
other orders); its own proposals must come out on the device, at most the stated count.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks.data import collate, make_dataset
from benchmarks.runtime.placement import move_batch
from benchmarks.tasks import task_for
from compiler import build_network, compile_graph
from graphspec import load_spec, totals
from tests import SPECS

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize(
    "name", ["rcnn-small", "fast-rcnn-small", "faster-rcnn-small", "mask-rcnn-small"]
)
def test_two_stage_trains_on_cuda_and_scores_rois_as_the_cpu(name: str) -> None:
    spec = load_spec(SPECS / f"{name}.yaml")
    graph = compile_graph(spec)
    task = task_for(spec, graph)
    data = make_dataset("shapes", "train", (64, 64), num_classes=4, limit=8)
    batch = collate([data[i] for i in range(8)])
    torch.manual_seed(0)
    cpu = build_network(graph)
    gpu = build_network(graph)
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda().train()
    on_device = move_batch(batch, torch.device("cuda"), False)
    losses = task.loss(task.forward(gpu, on_device), on_device)
    losses["loss"].backward()
    assert math.isfinite(float(losses["loss"].detach()))
    assert gpu.cls_score.weight.grad is not None and gpu.cls_score.weight.grad.is_cuda
    gpu.load_state_dict(cpu.state_dict())
    rois = [torch.tensor([[2.0, 3.0, 30.0, 40.0], [10.0, 10.0, 60.0, 50.0]])] * 2
    with torch.no_grad():
        want = cpu.eval()(batch["image"][:2], proposals=rois)
        got = gpu.eval()(batch["image"][:2].cuda(), proposals=[r.cuda() for r in rois])
        own = gpu(batch["image"].cuda())
    torch.testing.assert_close(got.class_logits.cpu(), want.class_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got.box_deltas.cpu(), want.box_deltas, rtol=1e-4, atol=1e-4)
    assert all(r.is_cuda and len(r) <= totals(graph).rois for r in own.rois)
