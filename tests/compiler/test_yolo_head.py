"""YOLOv1 specs: the S x S x (B*5 + C) grid output, the parameter count of specs/yolov1.yaml
against the paper's layer list, FC layers kept as FC, and the head's size check.

specs/yolov1.yaml has 271.7M parameters (~1.1 GB in fp32), so its module is built on the
``meta`` device (parameter counts and layer sizes without memory); real forwards use a small
inline YOLO spec (64x64 input, S=2, B=2, C=3).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compiler import GraphNet, compile_graph
from graphspec import DetectionHead, SpecError, load_spec, totals
from tests import SPECS

YOLOV1 = SPECS / "yolov1.yaml"

SMALL_YOLO = (SPECS / "yolo-small.yaml").read_text()
# 64 -> 32 (conv /2) -> 16 (pool) -> 8 (pool): fc1 reads 16 * 8 * 8 values.
# fc2 has S * S * (B * 5 + C) = 2 * 2 * (2 * 5 + 3) = 52 outputs.
SMALL_PARAMS = (3 * 8 * 9 + 8) + (8 * 16 * 9 + 16) + (16 * 8 * 8 * 64 + 64) + (64 * 52 + 52)


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def yolov1_paper_params() -> int:
    """YOLOv1 (Redmon et al. 2016, fig. 3): 24 conv layers, FC 4096, FC 7*7*30."""
    convs = [(3, 64, 7), (64, 192, 3)]
    convs += [(192, 128, 1), (128, 256, 3), (256, 256, 1), (256, 512, 3)]
    convs += [(512, 256, 1), (256, 512, 3)] * 4 + [(512, 512, 1), (512, 1024, 3)]
    convs += [(1024, 512, 1), (512, 1024, 3)] * 2 + [(1024, 1024, 3), (1024, 1024, 3)]
    convs += [(1024, 1024, 3), (1024, 1024, 3)]
    assert len(convs) == 24
    total = sum(_conv(*c) for c in convs)
    total += 7 * 7 * 1024 * 4096 + 4096  # fc1
    total += 4096 * 7 * 7 * 30 + 7 * 7 * 30  # fc2
    return total


def _head_position(text: str) -> tuple[int, int]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("head:"):
            return number, line.index("{") + 1
    raise AssertionError("no head line")


@pytest.fixture(scope="module")
def yolov1_graph():
    return compile_graph(load_spec(YOLOV1))


def test_yolov1_graph_is_a_7x7x30_grid(yolov1_graph):
    graph = yolov1_graph
    assert tuple(graph[graph.output].shape) == (7, 7, 30)
    assert graph.detection == DetectionHead(type="yolo", num_classes=20, grid=7, boxes=2)
    assert tuple(graph["fc1"].shape) == (4096,)
    assert tuple(graph["fc2"].shape) == (1470,)
    assert graph.detection.default_boxes == 0  # SSD only


def test_yolov1_param_count_matches_the_paper(yolov1_graph):
    expected = yolov1_paper_params()
    assert expected == 271_703_550
    assert totals(yolov1_graph).params == expected


def test_yolov1_module_on_meta_device(yolov1_graph):
    with torch.device("meta"):
        model = GraphNet(yolov1_graph)
    assert sum(p.numel() for p in model.parameters()) == yolov1_paper_params()
    # The FC layers stay FC (a detector's fc1 reads the whole 7x7x1024 map).
    assert isinstance(model.fc1, nn.Linear) and model.fc1.in_features == 7 * 7 * 1024
    assert isinstance(model.fc2, nn.Linear) and model.fc2.out_features == 1470
    # The last step views fc2's 1470 values as the grid. (A whole meta forward would
    # first import torch._dynamo for leaky_relu's meta kernel: seconds, so the full-size
    # forward is left to the graph shape above and the small spec below.)
    steps = [name for name, _ in model.named_children()]
    assert steps[-2:] == ["fc2", "yolo_grid"]
    assert model.yolo_grid(torch.empty(2, 1470, device="meta")).shape == (2, 7, 7, 30)


@pytest.fixture(scope="module")
def small():
    graph = compile_graph(load_spec(SMALL_YOLO))
    torch.manual_seed(0)
    return graph, GraphNet(graph).eval()


def test_small_yolo_output_is_the_fc_vector_as_a_grid(small):
    graph, model = small
    assert tuple(graph[graph.output].shape) == (2, 2, 13)
    seen = {}
    handle = model.fc2.register_forward_hook(lambda m, a, out: seen.update(fc2=out.clone()))
    try:
        with torch.no_grad():
            out = model(torch.rand(3, 3, 64, 64))
    finally:
        handle.remove()
    assert out.shape == (3, 2, 2, 13)
    # Row-major: cell (i, j) holds fc2 values [(i * 2 + j) * 13, (i * 2 + j + 1) * 13).
    for i in range(2):
        for j in range(2):
            start = (i * 2 + j) * 13
            assert torch.equal(out[:, i, j], seen["fc2"][:, start : start + 13])


def test_small_yolo_keeps_fc_layers_and_counts_params(small):
    graph, model = small
    assert graph["fc1"].op.op == "linear"
    assert graph["fc2"].op.op == "linear"
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_features, m.out_features) for m in linears] == [(1024, 64), (64, 52)]
    assert len(convs) == 2  # only the two encoder convs; no FC turned into a conv
    assert totals(graph).params == SMALL_PARAMS
    assert sum(p.numel() for p in model.parameters()) == SMALL_PARAMS


def test_wrong_fc_size_names_the_expected_count():
    text = SMALL_YOLO.replace("out: 52, name: fc2", "out: 50, name: fc2")
    with pytest.raises(SpecError) as info:
        compile_graph(load_spec(text, file="bad.yaml"))
    err = info.value
    assert (err.file, err.line, err.column) == ("bad.yaml", *_head_position(text))
    assert err.key_path == "head"
    assert "52" in err.message and "50" in err.message


def test_yolov1_with_another_grid_names_its_expected_count():
    text = YOLOV1.read_text()
    changed = text.replace("head: {type: yolo, grid: 7,", "head: {type: yolo, grid: 5,")
    assert changed != text
    with pytest.raises(SpecError) as info:
        compile_graph(load_spec(changed, file="yolov1-5.yaml"))
    err = info.value
    assert (err.line, err.column) == _head_position(changed)
    expected = 5 * 5 * (2 * 5 + 20)
    assert f"expected {expected}" in err.message and "1470" in err.message


def test_encoder_ending_in_a_map_is_rejected():
    # No FC at the end: the 16x8x8 map is not a vector of 52 values.
    text = SMALL_YOLO.replace(
        """      - {op: flatten}
      - {op: linear, out: 64, name: fc1}
      - {op: leaky_relu, negative_slope: 0.1}
      - {op: linear, out: 52, name: fc2}
""",
        "      - {op: leaky_relu, negative_slope: 0.1}\n",
    )
    assert "linear" not in text
    with pytest.raises(SpecError) as info:
        compile_graph(load_spec(text, file="bad.yaml"))
    assert "expected 52" in info.value.message and "16x8x8" in info.value.message
