"""specs/ssd300-vgg16.yaml end to end: default boxes, source map sizes, parameter count,
the compiled module's outputs and their row order against the default boxes, and the
spec errors of a bad SSD head.

Expected values are written out from the SSD paper (Liu et al. 2016, SSD300 on VGG-16),
not read back from the compiler.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from compiler import GraphNet, compile_graph
from compiler.detection.anchors import ssd_default_boxes
from graphspec import SpecError, load_spec, totals
from graphspec.cli import main
from tests import SPECS

SSD300 = SPECS / "ssd300-vgg16.yaml"
SSD_SMALL = SPECS / "ssd-small.yaml"

# SSD300 (paper, fig. 2 / table): source maps, their channels and default boxes per cell.
SOURCES = ["conv4_3", "fc7", "extra1", "extra2", "extra3", "extra4"]
MAP_SIZES = [38, 19, 10, 5, 3, 1]
CHANNELS = [512, 1024, 512, 256, 256, 256]
BOXES = [4, 6, 6, 6, 4, 4]
RATIOS = [[2.0], [2.0, 3.0], [2.0, 3.0], [2.0, 3.0], [2.0], [2.0]]
CLASSES = 21  # 20 VOC classes + background
NUM_BOXES = 8732


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def paper_param_count() -> int:
    """SSD300 parameters from the paper's layer list."""
    vgg = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256)]
    vgg += [(256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    total = sum(_conv(cin, cout, 3) for cin, cout in vgg)  # conv1_1 .. conv5_3
    total += _conv(512, 1024, 3)  # fc6: 3x3, dilation 6
    total += _conv(1024, 1024, 1)  # fc7
    extras = [(1024, 256, 1), (256, 512, 3), (512, 128, 1), (128, 256, 3)]
    extras += [(256, 128, 1), (128, 256, 3), (256, 128, 1), (128, 256, 3)]
    total += sum(_conv(*layer) for layer in extras)
    total += 512  # L2Norm on conv4_3: one scale per channel
    for cin, boxes in zip(CHANNELS, BOXES, strict=True):
        # 3x3 class conv (boxes * 21 outputs) + 3x3 box conv (boxes * 4 outputs)
        total += cin * boxes * (CLASSES + 4) * 9 + boxes * (CLASSES + 4)
    return total


pytestmark = pytest.mark.usefixtures("one_thread_module")


@pytest.fixture(scope="module")
def graph():
    return compile_graph(load_spec(SSD300))


@pytest.fixture(scope="module")
def model(graph):
    torch.manual_seed(0)
    return GraphNet(graph).eval()


def _code(n: int, k: int, cell: torch.Tensor, channel: torch.Tensor) -> torch.Tensor:
    """An integer (exact in float32) naming image ``n``, source ``k``, cell and channel."""
    return ((n * len(SOURCES) + k) * 1444 + cell) * 128 + channel


@pytest.fixture(scope="module")
def rigged(model):
    """One batch-2 forward in which every head conv's output is replaced by codes naming
    (image, source, cell, channel); also records the inputs the head convs received."""
    seen: dict[str, torch.Tensor] = {}
    handles = []

    def replace(k: int):
        def hook(module, args, output):
            n, c, h, w = output.shape
            cell = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w)
            channel = torch.arange(c, dtype=torch.float32).reshape(1, c, 1, 1)
            images = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1)
            return _code(images, k, cell, channel).expand(n, c, h, w).contiguous()

        return hook

    def record(name: str, inputs: bool):
        def hook(module, args, output):
            seen[name] = (args[0] if inputs else output).detach().clone()

        return hook

    for k, source in enumerate(SOURCES):
        for kind in ("cls", "box"):
            conv = getattr(model, f"ssd_{kind}_{source}")
            handles.append(conv.register_forward_hook(record(f"{kind}_in_{source}", True)))
            handles.append(conv.register_forward_hook(replace(k)))
        handles.append(getattr(model, source).register_forward_hook(record(source, False)))
    try:
        torch.manual_seed(1)
        with torch.no_grad():
            scores, offsets = model(torch.rand(2, 3, 300, 300))
    finally:
        for handle in handles:
            handle.remove()
    return scores, offsets, seen


def _expected_rows(values: int) -> torch.Tensor:
    """``[2, 8732, values]`` codes laid out as the SSD head must lay them out: sources in
    order; inside a source, cells row-major, boxes within a cell, then the values of a box
    (the conv's channel is ``box * values + value``)."""
    per_image = []
    for n in range(2):
        parts = []
        for k, (f, boxes) in enumerate(zip(MAP_SIZES, BOXES, strict=True)):
            rows = torch.arange(f * f * boxes)
            cell, box = rows // boxes, rows % boxes
            channel = box[:, None] * values + torch.arange(values)[None, :]
            parts.append(_code(n, k, cell[:, None].float(), channel.float()))
        per_image.append(torch.cat(parts))
    return torch.stack(per_image)


def test_default_box_count_from_the_paper():
    assert sum(f * f * b for f, b in zip(MAP_SIZES, BOXES, strict=True)) == NUM_BOXES


def test_graph_records_default_boxes_and_source_sizes(graph):
    assert graph.detection.default_boxes == NUM_BOXES
    info = graph.detection
    assert info.type == "ssd" and info.num_classes == 20
    assert [tuple(s) for s in info.feature_sizes] == [(f, f) for f in MAP_SIZES]
    assert info.anchors.aspect_ratios == RATIOS
    for source, f, c in zip(SOURCES, MAP_SIZES, CHANNELS, strict=True):
        assert tuple(graph[source].shape) == (c, f, f)
    assert tuple(graph["ssd_scores"].shape) == (NUM_BOXES, CLASSES)
    assert tuple(graph["ssd_offsets"].shape) == (NUM_BOXES, 4)


def test_summary_json_reports_default_boxes_and_params(capsys):
    assert main(["summary", str(SSD300), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["default_boxes"] == NUM_BOXES
    assert info["total_params"] == paper_param_count()
    shapes = {row["name"]: row["shape"] for row in info["layers"]}
    for source, f, c in zip(SOURCES, MAP_SIZES, CHANNELS, strict=True):
        assert shapes[source] == [c, f, f]
    assert shapes["ssd_scores"] == [NUM_BOXES, CLASSES]
    assert shapes["ssd_offsets"] == [NUM_BOXES, 4]


def test_param_count_matches_the_paper_layer_list(graph, model):
    expected = paper_param_count()
    assert expected == 26_285_486
    assert totals(graph).params == expected
    assert sum(p.numel() for p in model.parameters()) == expected


def test_l2norm_has_one_scale_per_channel_and_only_on_conv4_3(model, rigged):
    l2 = model.ssd_l2norm_conv4_3
    (weight,) = list(l2.parameters())
    assert weight.shape == (512,)
    assert torch.equal(weight.detach(), torch.full((512,), 20.0))
    _, _, seen = rigged
    x = seen["conv4_3"].double()
    norm = x.pow(2).sum(dim=1, keepdim=True).sqrt()
    expected = 20.0 * x / norm
    for kind in ("cls", "box"):
        got = seen[f"{kind}_in_conv4_3"].double()
        assert got.shape == x.shape
        # (assert_close is slow on millions of values; a max difference says the same)
        assert (got - expected).abs().max() < 1e-4
        assert got.pow(2).sum(dim=1).sqrt().sub(20.0).abs().max() < 1e-3
    for source in SOURCES[1:]:  # every other source feeds its head convs unnormalised
        for kind in ("cls", "box"):
            assert torch.equal(seen[f"{kind}_in_{source}"], seen[source])


def test_module_outputs_scores_and_offsets_in_head_row_order(rigged):
    scores, offsets, _ = rigged
    assert scores.shape == (2, NUM_BOXES, CLASSES)
    assert offsets.shape == (2, NUM_BOXES, 4)
    # Every row of every source: rows in source order, cells row-major, boxes within a
    # cell; a box's values are consecutive conv channels.
    assert torch.equal(scores, _expected_rows(CLASSES))
    assert torch.equal(offsets, _expected_rows(4))


def _paper_anchor(k: int, i: int, j: int, box: int) -> tuple[float, float, float, float]:
    """Default box ``box`` of cell (i, j) on source k, written from the paper (eq. 4)."""
    scales = [0.2 + (0.9 - 0.2) * m / 5 for m in range(6)] + [1.0]
    s, s_next = scales[k], scales[k + 1]
    sizes = [(s, s), (math.sqrt(s * s_next),) * 2]
    for r in RATIOS[k]:
        sizes += [(s * math.sqrt(r), s / math.sqrt(r)), (s / math.sqrt(r), s * math.sqrt(r))]
    w, h = sizes[box]
    f = MAP_SIZES[k]
    return ((j + 0.5) / f, (i + 0.5) / f, min(w, 1.0), min(h, 1.0))


def test_default_boxes_line_up_with_the_head_rows(graph, rigged):
    info = graph.detection
    anchors = ssd_default_boxes(
        [tuple(s) for s in info.feature_sizes],
        info.anchors.min_scale,
        info.anchors.max_scale,
        info.anchors.aspect_ratios,
        dtype=torch.float64,
    )
    assert anchors.shape == (NUM_BOXES, 4)
    # Decode which (source, cell, box) produced each output row of image 0, then build the
    # paper's default box for it: row r of the output must be default box r.
    scores, _, _ = rigged
    code = scores[0, :, 0].long()  # value 0 of every row: channel = box * 21
    channel, rest = code % 128, code // 128
    cell, k = rest % 1444, rest // 1444
    assert (channel % CLASSES == 0).all()
    box = channel // CLASSES
    expected = torch.tensor(
        [
            _paper_anchor(kk, cc // MAP_SIZES[kk], cc % MAP_SIZES[kk], bb)
            for kk, cc, bb in zip(k.tolist(), cell.tolist(), box.tolist(), strict=True)
        ],
        dtype=torch.float64,
    )
    assert (anchors - expected).abs().max() < 1e-9


# ---------------------------------------------------------------------------- bad specs


def _compile_text(text: str) -> None:
    compile_graph(load_spec(text, file="bad.yaml"))


def _position(text: str, line_marker: str, token: str) -> tuple[int, int]:
    """1-based (line, column) of ``token`` on the first line containing ``line_marker``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line_marker in line:
            return number, line.index(token) + 1
    raise AssertionError(f"{line_marker!r} not in the spec")


def test_unknown_source_name_is_a_spec_error_at_the_name():
    text = SSD_SMALL.read_text().replace(
        "sources: [map8, map4, map2]", "sources: [map8, map5, map2]"
    )
    with pytest.raises(SpecError) as info:
        _compile_text(text)
    err = info.value
    assert (err.file, err.line, err.column) == ("bad.yaml", *_position(text, "sources:", "map5"))
    assert err.key_path == "head.sources[1]"
    assert "map5" in err.message
    assert str(err).startswith(f"bad.yaml:{err.line}:{err.column}: head.sources[1]: ")


def test_unknown_l2norm_name_is_a_spec_error_at_the_name():
    text = SSD_SMALL.read_text().replace(
        "sources: [map8, map4, map2]", "sources: [map8, map4, map2]\n  l2norm: [map8, nope]"
    )
    with pytest.raises(SpecError) as info:
        _compile_text(text)
    err = info.value
    assert (err.line, err.column) == _position(text, "l2norm:", "nope")
    assert err.key_path == "head.l2norm[1]"
    assert "nope" in err.message


def test_aspect_ratio_count_must_match_the_sources():
    text = SSD_SMALL.read_text().replace(
        "aspect_ratios: [[2], [2], [2]]", "aspect_ratios: [[2], [2]]"
    )
    assert text != SSD_SMALL.read_text()
    with pytest.raises(SpecError) as info:
        _compile_text(text)
    err = info.value
    assert (err.line, err.column) == _position(text, "aspect_ratios:", "[[2]")
    assert err.key_path == "head.anchors.aspect_ratios"
    assert "expected 3" in err.message and "got 2" in err.message


def test_ssd_small_default_boxes():
    # 8x8, 4x4 and 2x2 maps (strides 8, 16, 32 of 64x64), 4 boxes per cell: 336 rows.
    graph = compile_graph(load_spec(SSD_SMALL))
    assert [tuple(s) for s in graph.detection.feature_sizes] == [(8, 8), (4, 4), (2, 2)]
    assert graph.detection.default_boxes == (64 + 16 + 4) * 4 == 336


def test_duplicate_source_is_an_error_or_gets_its_own_rows():
    text = SSD_SMALL.read_text().replace(
        "sources: [map8, map4, map2]", "sources: [map8, map8, map2]"
    )
    try:
        graph = compile_graph(load_spec(text, file="bad.yaml"))
    except SpecError as err:  # the preferred fix: point at the repeated name
        assert (err.line, err.column) == _position(text, "sources:", "map8, map2")
        assert err.key_path == "head.sources[1]"
        return
    expected = (64 + 64 + 4) * 4  # otherwise each listed source must add its own rows
    info = graph.detection
    anchors = ssd_default_boxes(
        [tuple(s) for s in info.feature_sizes],
        info.anchors.min_scale,
        info.anchors.max_scale,
        info.anchors.aspect_ratios,
    )
    scores, offsets = GraphNet(graph).eval()(torch.rand(1, 3, 64, 64))
    assert graph.detection.default_boxes == anchors.shape[0] == expected
    assert scores.shape[1] == offsets.shape[1] == expected


def test_l2norm_on_a_layer_that_is_not_a_source_is_an_error():
    text = SSD_SMALL.read_text().replace(
        "sources: [map8, map4, map2]", "sources: [map8, map4, map2]\n  l2norm: [block1_2]"
    )
    graph = compile_graph(load_spec(SSD_SMALL))
    assert graph["block1_2"].role == "encoder"  # a real layer, but not a source
    with pytest.raises(SpecError) as info:
        _compile_text(text)
    err = info.value
    assert (err.line, err.column) == _position(text, "l2norm:", "block1_2")
    assert err.key_path == "head.l2norm[0]"


def test_l2norm_listing_a_source_twice_is_an_error():
    text = SSD_SMALL.read_text().replace(
        "sources: [map8, map4, map2]", "sources: [map8, map4, map2]\n  l2norm: [map8, map8]"
    )
    with pytest.raises(SpecError) as info:
        _compile_text(text)
    err = info.value
    assert err.key_path == "head.l2norm[1]" and "twice" in err.message


def test_min_scale_above_max_scale_is_an_error():
    text = SSD_SMALL.read_text().replace(
        "min_scale: 0.2, max_scale: 0.75", "min_scale: 0.9, max_scale: 0.1"
    )
    with pytest.raises(SpecError) as info:
        _compile_text(text)
    err = info.value
    assert (err.line, err.column) == _position(text, "anchors:", "0.9")
    assert err.key_path == "head.anchors.min_scale" and "above max_scale 0.1" in err.message
