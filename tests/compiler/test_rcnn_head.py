"""The ``rcnn`` head pass: shapes, the spatial scale from the inferred stride, costs at the
stated RoI count, and its errors at the spec's line and column."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from compiler import compile_graph
from graphspec import INPUT, SpecError, build_graph, load_spec, totals
from graphspec.memory import estimate
from graphspec.summary import format_summary
from tests import SPECS


def _graph(name: str):
    return compile_graph(load_spec(SPECS / f"{name}.yaml"))


def test_fast_rcnn_small_pools_from_its_map_at_the_inverse_stride() -> None:
    graph = _graph("fast-rcnn-small")
    roi = graph["roi"]
    assert graph["feat"].shape == (64, 16, 16) and graph["feat"].jump == (4, 4)
    assert roi.op.op == "roi_pool" and roi.op.spatial_scale == 0.25
    assert graph.inputs_of("roi") == ["feat", "proposals"]
    assert roi.shape == (64, 4, 4) and graph["proposals"].shape == (100, 4)
    assert graph["cls_score"].shape == (4,) and graph["bbox_pred"].shape == (16,)
    per_roi = {n.name for n in graph if n.per_roi}
    assert per_roi == {"roi", "box_flatten0", "fc6", "box_relu2", "fc7", "box_relu4"} | {
        "cls_score",
        "bbox_pred",
    }


def test_fast_rcnn_small_costs_at_its_stated_roi_count() -> None:
    graph = _graph("fast-rcnn-small")
    # Per RoI, by hand: fc6 1024 -> 128, fc7 128 -> 128, cls 128 -> 4, bbox 128 -> 16.
    per_roi = 2 * (1024 * 128 + 128 * 128 + 128 * 4 + 128 * 16)
    # The image part: conv 3->16 at 64x64, 16->32 at 32x32, 64 twice at 16x16 (no bias).
    image = 2 * (64 * 64 * 16 * 27 + 32 * 32 * 32 * 144 + 16 * 16 * 64 * 288 + 16 * 16 * 64 * 576)
    total = totals(graph)
    assert (total.rois, total.roi_flops) == (100, per_roi)
    assert total.flops == image + 100 * per_roi
    assert total.params == (
        16 * 27 + 32 + 32 * 144 + 64 + 64 * 288 + 128 + 64 * 576 + 128  # convs + batchnorms
    ) + (1024 * 128 + 128) + (128 * 128 + 128) + (128 * 4 + 4) + (128 * 16 + 16)


def test_faster_rcnn_small_counts_its_anchors_and_rpn_layers() -> None:
    graph = _graph("faster-rcnn-small")
    layout = graph.detection.two_stage
    assert layout.anchors == 16 * 16 * 9 and layout.rpn == ("rpn_cls_rows", "rpn_bbox_rows")
    assert graph["rpn_cls_score"].shape == (18, 16, 16)
    assert graph["rpn_bbox_pred"].shape == (36, 16, 16)
    assert graph["proposals"].op.stride == (4.0, 4.0) and layout.rois == 100
    text = format_summary(graph)
    assert "RPN anchors: 2304" in text and "at 100 RoIs" in text
    assert re.search(r"fc6 +linear /RoI", text)


def test_rcnn_small_runs_its_whole_classifier_per_crop() -> None:
    spec = load_spec(SPECS / "rcnn-small.yaml")
    graph = compile_graph(spec)
    assert graph[INPUT].shape == (3, 64, 64) and graph["roi"].shape == (3, 24, 24)
    assert graph["roi"].op.aligned and graph["roi"].op.sampling_ratio == 2
    assert graph.inputs_of("roi") == [INPUT, "proposals"]
    assert all(n.per_roi for n in graph if n.role == "encoder")
    # The classifier alone, built at the crop size without the head, costs the same per crop.
    classifier = build_graph(spec.model_copy(update={"head": None}).with_input_size((24, 24)))
    head = 2 * (128 * 4 + 128 * 16)
    # The warp: RoIAlign's two products, [24, 64] x [64, 3 * 64] then [24 * 3, 64] x [64, 24].
    warp = 2 * 3 * (24 * 64 * 64 + 24 * 64 * 24)
    assert totals(graph).roi_flops == warp + totals(classifier).flops + head
    assert totals(graph).flops == 100 * (warp + totals(classifier).flops + head)


def test_memory_estimate_counts_the_training_rois() -> None:
    graph = _graph("fast-rcnn-small")
    image = sum(len(n.shape) and _size(n.shape) for n in graph if not n.per_roi)
    per_roi = sum(_size(n.shape) for n in graph if n.per_roi)
    assert estimate(graph).activations == image + 32 * per_roi  # sampling.rois: 32


def _size(shape: tuple[int, ...]) -> int:
    out = 1
    for value in shape:
        out *= value
    return out


BASE = """name: t
task: detection
input: {channels: 3, height: 32, width: 32}
classes: 2
encoder:
  - stage: s
    layers:
      - {op: conv, out: 8, kernel: 3, padding: 1}
      - {op: relu, name: feat}
      - {op: maxpool, kernel: 2, stride: [2, 1]}
      - {op: relu, name: wide}
      - {op: flatten, name: vec}
head:
  type: rcnn
"""


@pytest.mark.parametrize(
    ("head", "where", "message"),
    [
        ("  proposals: {source: builtin}\n", (14, 3), "mode roi needs a `roi` section"),
        (
            "  mode: crop\n  proposals: {source: builtin}\n",
            (15, 9),
            "mode crop needs `crop`",
        ),
        (
            "  mode: crop\n  crop: 8\n  proposals: {source: rpn, from: feat, anchors: "
            "{sizes: [8], ratios: [1]}}\n",
            (17, 23),
            "an RPN reads a feature map of the whole image",
        ),
        (
            "  proposals: {source: builtin}\n  roi: {from: nope}\n",
            (16, 15),
            "unknown layer name 'nope'",
        ),
        (
            "  proposals: {source: builtin}\n  roi: {from: vec}\n",
            (16, 15),
            "'vec' is not a feature map",
        ),
        (
            "  proposals: {source: builtin}\n  roi: {from: wide}\n",
            (16, 15),
            "has strides 2 x 1",
        ),
        (
            "  proposals: {source: builtin}\n  roi: {sampling_ratio: 2, from: feat}\n",
            (16, 25),
            "sampling_ratio and aligned are RoIAlign settings",
        ),
        (
            "  proposals: {source: builtin}\n  roi: {from: feat}\n  box_head:\n"
            "    - {op: relu, from: feat}\n",
            (18, 7),
            "box_head layers run in sequence",
        ),
        (
            "  proposals: {source: builtin}\n  roi: {from: feat}\n"
            "  sampling: {background_iou: [0.5, 0.1]}\n",
            (17, 13),
            r"background_iou is \[lo, hi\)",
        ),
    ],
)
def test_head_errors_point_at_the_key(head: str, where: tuple[int, int], message: str) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        compile_graph(load_spec(BASE + head))
    location = caught.value.issues[0].location
    assert (location.line, location.column) == where


def test_an_encoder_layer_may_not_take_a_head_layer_name() -> None:
    text = BASE.replace("name: feat}", "name: cls_score}") + (
        "  proposals: {source: builtin}\n  roi: {from: cls_score}\n"
    )
    with pytest.raises(SpecError, match="'cls_score' is the name of a layer the rcnn head adds"):
        compile_graph(load_spec(text))


def test_the_spatial_scale_is_never_typed() -> None:
    text = BASE + "  proposals: {source: builtin}\n  roi: {from: feat, spatial_scale: 0.5}\n"
    with pytest.raises(SpecError, match="unknown key 'spatial_scale'"):
        load_spec(text)
    graph = compile_graph(load_spec(BASE + "  proposals: {source: builtin}\n  roi: {from: feat}\n"))
    assert graph["roi"].op.spatial_scale == float(1 / Fraction(graph["feat"].jump[0]))


def test_faster_rcnn_vgg16_reports_its_anchors_as_ssd_reports_8732() -> None:
    graph = _graph("faster-rcnn-vgg16")
    # conv5_3 is 38 x 63 at 600 x 1000 (Caffe's ceil-mode pools), 9 anchors a position.
    assert graph.detection.two_stage.anchors == 38 * 63 * 9 == 21546
    assert "RPN anchors: 21546" in format_summary(graph)
    assert graph["proposals"].op.stride == (16.0, 16.0) and graph["roi"].op.spatial_scale == 1 / 16


def test_the_flop_cap_counts_the_per_roi_layers_at_the_stated_rois() -> None:
    from graphspec.limits import Limits

    spec = load_spec(SPECS / "rcnn-small.yaml")  # 0.412 GFLOPs: 100 crops x 4.1 MFLOPs
    compile_graph(spec, limits=Limits(max_gflops=1))
    with pytest.raises(SpecError, match="GFLOPs over the resource cap"):
        compile_graph(
            spec.model_copy(
                update={
                    "head": spec.head.model_copy(
                        update={
                            "proposals": spec.head.proposals.model_copy(update={"count": 100_000})
                        }
                    )
                }
            ),
            limits=Limits(max_gflops=1),
        )


@pytest.mark.parametrize("mode", ["  roi: {from: feat}\n", "  mode: crop\n  crop: 8\n"])
def test_file_proposals_are_given_to_the_network(mode: str) -> None:
    import torch

    from compiler import build_network

    graph = compile_graph(
        load_spec(BASE + "  proposals: {source: file, folder: boxes, count: 7}\n" + mode)
    )
    assert graph["proposals"].op.op == "given_proposals" and totals(graph).rois == 7
    net = build_network(graph).eval()
    with pytest.raises(ValueError, match=r"pass them, net\(images, proposals="):
        net(torch.rand(1, 3, 32, 32))
    out = net(torch.rand(1, 3, 32, 32), proposals=[torch.tensor([[1.0, 2.0, 20.0, 30.0]])])
    assert out.class_logits.shape == (1, 3) and out.box_deltas.shape == (1, 12)
