"""The rcnn head's mask branch (Mask R-CNN): shapes, costs, errors, and torchvision's count."""

from __future__ import annotations

import pytest

from compiler import compile_graph
from graphspec import SpecError, load_spec, totals
from tests import SPECS

# A 256-channel map at stride 16 (conv5-like) and Mask R-CNN's mask head on COCO (90
# classes + background = torchvision's num_classes 91): 4 x (3x3 conv 256 + ReLU), a 2x2
# stride-2 transposed conv 256 + ReLU, a 1x1 conv to 91 maps.
MASK_RCNN = """name: mask-head
task: instance
input: {channels: 3, height: 64, width: 64}
classes: 90
encoder:
  - stage: s
    layers:
      - {op: conv, out: 256, kernel: 16, stride: 16}
      - {op: relu, name: feat}
head:
  type: rcnn
  proposals: {source: builtin, count: 10}
  roi: {op: roi_align, from: feat, output: 7, sampling_ratio: 2}
  box_head: [{op: flatten}, {op: linear, out: 32}]
  test: {max_boxes: 5}
  mask:
    roi: {from: feat}
    layers:
MASK_LAYERS
"""
LAYERS = (
    "".join(
        "      - {op: conv, out: 256, kernel: 3, padding: 1}\n      - {op: relu}\n"
        for _ in range(4)
    )
    + "      - {op: conv_transpose, out: 256, kernel: 2, stride: 2}\n      - {op: relu}\n"
)


def test_torchvisions_mask_head_to_the_parameter() -> None:
    graph = compile_graph(load_spec(MASK_RCNN.replace("MASK_LAYERS\n", LAYERS)))
    layout = graph.detection.two_stage
    branch = [graph[name] for name in layout.mask_branch]
    # torchvision MaskRCNNHeads: 4 x (256 * 256 * 9 + 256); MaskRCNNPredictor:
    # conv5_mask (256 * 256 * 2 * 2 + 256) and mask_fcn_logits (256 * 91 + 91).
    by_hand = 4 * (256 * 256 * 9 + 256) + (256 * 256 * 4 + 256) + (256 * 91 + 91)
    assert by_hand == 2_646_107
    assert sum(node.params for node in branch) == by_hand
    assert graph["mask_roi"].shape == (256, 14, 14) and graph["mask_roi"].op.sampling_ratio == 2
    assert graph["mask_logits"].shape == (91, 28, 28)
    assert layout.masks == "mask_logits" and layout.mask_rois == 5


def test_mask_flops_are_stated_at_the_detection_count() -> None:
    graph = compile_graph(load_spec(SPECS / "mask-rcnn-small.yaml"))
    total = totals(graph)
    masks = sum(graph[name].flops for name in graph.detection.two_stage.mask_branch)
    boxes = sum(n.flops for n in graph if n.per_roi) - masks
    image = sum(n.flops for n in graph if not n.per_roi)
    assert (total.rois, total.mask_rois) == (100, 20)
    assert total.flops == image + 100 * boxes + 20 * masks


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MASK_RCNN.replace("task: instance", "task: detection"), "a mask branch makes an instance"),
        (MASK_RCNN.split("  mask:")[0], "task instance needs a mask branch"),
        (
            MASK_RCNN.replace("MASK_LAYERS\n", "      - {op: flatten}\n"),
            "the mask branch must end in maps",
        ),
        (MASK_RCNN.replace("roi: {from: feat}", "roi: {from: nope}"), "unknown layer name 'nope'"),
    ],
)
def test_mask_branch_errors(text: str, message: str) -> None:
    text = text.replace("MASK_LAYERS\n", LAYERS)
    with pytest.raises(SpecError, match=message):
        compile_graph(load_spec(text))
