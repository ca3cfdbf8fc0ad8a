"""A two-stage detector as a module, as generated source and as ONNX.

The generated source and the ONNX file must compute what :class:`TwoStageNet` computes
(same weights, same RoIs); FlopCounterMode must count the static FLOPs at the stated RoI
count; in training the network samples its RoIs against the ground truth.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from benchmarks.cost.measure import counted_gflops
from compiler import TwoStageNet, build_network, compile_graph
from compiler.emit import generate_source
from compiler.emit.decoded_two_stage import DecodedTwoStage
from compiler.emit.export import export_files
from graphspec import load_spec, totals
from tests import SPECS

SMALL = ("rcnn-small", "fast-rcnn-small", "faster-rcnn-small")


def _net(name: str, seed: int = 0) -> TwoStageNet:
    torch.manual_seed(seed)
    net = build_network(compile_graph(load_spec(SPECS / f"{name}.yaml")))
    assert isinstance(net, TwoStageNet)
    return net.eval()


def _proposals() -> list[torch.Tensor]:
    return [
        torch.tensor([[2.0, 3.0, 30.0, 40.0], [10.0, 10.0, 60.0, 50.0], [0.0, 0.0, 64.0, 64.0]]),
        torch.tensor([[5.5, 6.5, 20.0, 21.0]]),
    ]


def _generated(net: TwoStageNet, tmp_path: Path) -> torch.nn.Module:
    path = tmp_path / f"{net.graph.name.replace('-', '_')}.py"
    path.write_text(generate_source(net.graph))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (cls,) = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == path.stem]
    generated = cls()
    generated.load_state_dict(net.state_dict(), strict=True)
    return generated.eval()


@pytest.mark.parametrize("name", SMALL)
def test_generated_source_computes_what_the_network_does(name: str, tmp_path: Path) -> None:
    net = _net(name)
    generated = _generated(net, tmp_path)
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = net(images, proposals=_proposals())
        scores, deltas, rois = generated(images, proposals=_proposals())
        own = net(images)
        own_scores, _, own_rois = generated(images)
    torch.testing.assert_close(scores, out.class_logits)
    torch.testing.assert_close(deltas, out.box_deltas)
    assert [r.shape for r in rois] == [r.shape for r in out.rois] == [(3, 4), (1, 4)]
    assert [r.shape for r in own_rois] == [r.shape for r in own.rois]
    torch.testing.assert_close(own_scores, own.class_logits)
    assert all(len(r) <= totals(net.graph).rois for r in own.rois)


@pytest.mark.parametrize(
    "name", [*SMALL, "mask-rcnn-small", "fast-rcnn-vgg16", "faster-rcnn-vgg16"]
)
def test_flop_counter_agrees_with_the_static_count_at_the_stated_rois(name: str) -> None:
    graph = compile_graph(load_spec(SPECS / f"{name}.yaml"))
    assert math.isclose(counted_gflops(graph), totals(graph).gflops, rel_tol=1e-9)


def test_generated_source_masks_the_rois_it_is_given(tmp_path: Path) -> None:
    net = _net("mask-rcnn-small")
    generated = _generated(net, tmp_path)
    images, rois = torch.rand(2, 3, 64, 64), _proposals()
    with torch.no_grad():
        out = net(images, proposals=rois, mask_boxes=rois)
        *_, masks = generated(images, proposals=rois)
        own = net(images)
    torch.testing.assert_close(masks, out.mask_logits)
    assert masks.shape == (4, 4, 16, 16)  # 4 RoIs, classes + background, 16x16
    assert own.detections is not None and len(own.mask_logits) == sum(
        len(d["boxes"]) for d in own.detections
    )


def test_training_samples_rois_against_the_ground_truth() -> None:
    net = _net("faster-rcnn-small").train()
    targets = [
        {"boxes": torch.tensor([[8.0, 8.0, 30.0, 30.0]]), "labels": torch.tensor([2])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},
    ]
    out = net(torch.rand(2, 3, 64, 64), targets=targets)
    sampled = out.sampled
    assert sampled is not None and out.anchors is not None and out.rpn_objectness is not None
    counts = [len(r) for r in out.rois]
    assert all(c <= 32 for c in counts) and out.class_logits.shape == (sum(counts), 4)
    labels = sampled.labels[: counts[0]]
    assert 1 <= int((labels == 2).sum()) <= 8  # the ground truth joins; at most 25 % of 32
    assert set(labels.tolist()) <= {0, 2} and not sampled.labels[counts[0] :].any()
    assert out.rpn_objectness.shape == (2, 2304, 2) and out.anchors.shape == (2304, 4)


@pytest.mark.parametrize("name", ["rcnn-small", "faster-rcnn-small", "mask-rcnn-small"])
def test_onnx_export_matches_onnxruntime(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    net = _net(name, seed=3)
    path = tmp_path / "model.onnx"
    weights = tmp_path / "w.pt"
    torch.save(net.state_dict(), weights)
    export_files(net.graph, onnx=path, weights=weights)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = torch.rand(3, 3, 64, 64)
    rois = torch.tensor(
        [[0, 2, 3, 30, 40], [2, 10, 10, 60, 50], [1, 0, 0, 64, 64], [2, 5, 6, 20, 21.0]]
    )
    names = [i.name for i in session.get_inputs()]
    assert names == ["images", "rois"]
    got = session.run(None, {"images": images.numpy(), "rois": rois.numpy()})
    with torch.no_grad():
        expected = DecodedTwoStage(net)(images, rois)
    outputs = {"rcnn-small": 2, "faster-rcnn-small": 4, "mask-rcnn-small": 5}[name]
    assert len(got) == len(expected) == outputs
    for ours, theirs in zip(got, expected, strict=True):
        assert ours.shape == tuple(theirs.shape)
        assert float(abs(torch.from_numpy(ours) - theirs).max()) < 1e-4
