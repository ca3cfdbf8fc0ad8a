"""Fast R-CNN and Faster R-CNN on VGG-16 against the published Caffe networks.

``specs/fast-rcnn-vgg16.yaml`` and ``specs/faster-rcnn-vgg16.yaml`` reproduce the
train.prototxt files of rbgirshick/fast-rcnn and rbgirshick/py-faster-rcnn (verbatim
copies under ``tests/fixtures/prototxt/``, each headed by the commit it came from). The
expected numbers come from those files through ``tests/compiler/prototxt.py``, which
imports nothing of graphspec, so a wrong graphspec count cannot agree with itself; the
totals are also written out by hand below. The prototxt-only tests check the reader and
the files; the graph tests compare graphspec's compiled graph layer by layer.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from functools import cache

import pytest

from compiler import compile_graph
from graphspec import load_spec, totals
from tests import FIXTURES, SPECS
from tests.compiler.prototxt import Message, Walk, param_counts, parse, walk

PROTOTXT = FIXTURES / "prototxt"
IMAGE = {"data": (3, 600, 1000)}
"""The papers' test scale: shorter side 600, longer side at most 1000."""


def conv(c_in: int, c_out: int, k: int = 3) -> int:
    return k * k * c_in * c_out + c_out


def linear(f_in: int, f_out: int) -> int:
    return f_in * f_out + f_out


VGG16_CONVS = {
    "conv1_1": conv(3, 64), "conv1_2": conv(64, 64),
    "conv2_1": conv(64, 128), "conv2_2": conv(128, 128),
    "conv3_1": conv(128, 256), "conv3_2": conv(256, 256), "conv3_3": conv(256, 256),
    "conv4_1": conv(256, 512), "conv4_2": conv(512, 512), "conv4_3": conv(512, 512),
    "conv5_1": conv(512, 512), "conv5_2": conv(512, 512), "conv5_3": conv(512, 512),
}  # fmt: skip
BOX_HEAD = {
    "fc6": linear(512 * 7 * 7, 4096),  # roi_pool5 gives 512 x 7 x 7 = 25088 per RoI
    "fc7": linear(4096, 4096),
    "cls_score": linear(4096, 21),  # 20 VOC classes + background
    "bbox_pred": linear(4096, 84),  # 4 deltas x 21 classes
}
RPN = {
    "rpn_conv/3x3": conv(512, 512),
    "rpn_cls_score": conv(512, 18, k=1),  # 2 (bg/fg) x 9 anchors
    "rpn_bbox_pred": conv(512, 36, k=1),  # 4 x 9 anchors
}

# Fast R-CNN, by hand:
#   VGG-16 convs                            14,714,688
#   fc6       25088*4096 + 4096 =          102,764,544
#   fc7        4096*4096 + 4096 =           16,781,312
#   cls_score    4096*21 + 21   =               86,037
#   bbox_pred    4096*84 + 84   =              344,148
#   total                                  134,690,729
FAST_TOTAL = 14_714_688 + 102_764_544 + 16_781_312 + 86_037 + 344_148
# Faster R-CNN end2end, by hand: Fast R-CNN's layers plus the RPN:
#   rpn_conv/3x3   3*3*512*512 + 512 =      2,359,808
#   rpn_cls_score      512*18 + 18   =          9,234
#   rpn_bbox_pred      512*36 + 36   =         18,468
#   total  134,690,729 + 2,387,510   =    137,078,239
FASTER_TOTAL = FAST_TOTAL + 2_359_808 + 9_234 + 18_468


@pytest.fixture(scope="module", params=["fast", "faster"])
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


class Case:
    """One published network: its prototxt copy, the blob id of the original file, the
    spec that reproduces it and the counts written out by hand."""

    def __init__(self, prototxt: str, blob: str, spec: str, expected: dict[str, int]) -> None:
        self.path, self.blob, self.spec, self.expected = PROTOTXT / prototxt, blob, spec, expected

    @property
    def text(self) -> str:
        return self.path.read_text()

    @property
    def walk(self) -> Walk:
        return _walk(self.path.name)


CASES = {
    "fast": Case(
        "fast_rcnn_vgg16_train.prototxt",
        "649bc0923aab46a5115a6f637035c83b81389a73",
        "fast-rcnn-vgg16",
        {**VGG16_CONVS, **BOX_HEAD},
    ),
    "faster": Case(
        "faster_rcnn_vgg16_end2end_train.prototxt",
        "ebadb49b7654a3537173add4ce6f9c7e5b111d57",
        "faster-rcnn-vgg16",
        {**VGG16_CONVS, **RPN, **BOX_HEAD},
    ),
}
TOTALS = {"fast-rcnn-vgg16": FAST_TOTAL, "faster-rcnn-vgg16": FASTER_TOTAL}
GRAPH_NAMES = {"rpn_conv/3x3": "rpn_conv"}
"""Prototxt layer names that are not identifiers, as graphspec names the layer."""


@cache
def _walk(filename: str) -> Walk:
    return walk(parse((PROTOTXT / filename).read_text()), IMAGE)


# --- the prototxt files and the reader, without graphspec ---------------------------------


def test_copy_is_the_original_file(case: Case) -> None:
    """Below its one comment line the copy is byte for byte the file at the cited commit:
    its git blob id is the one ``git rev-parse <commit>:<path>`` gives."""
    header, body = case.text.split("\n", 1)
    assert header.startswith("# Verbatim copy of github.com/rbgirshick/")
    data = body.encode()
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == case.blob


def test_hand_totals() -> None:
    assert sum(VGG16_CONVS.values()) == 14_714_688  # torchvision's vgg16().features
    assert FAST_TOTAL == 134_690_729
    assert FASTER_TOTAL == 137_078_239


def test_prototxt_counts_per_layer(case: Case) -> None:
    """Every layer with parameters, in order, and nothing else has any."""
    counts = case.walk.params
    with_params = {name: n for name, n in counts.items() if n}
    assert list(with_params) == list(case.expected)
    assert with_params == case.expected
    assert sum(counts.values()) == TOTALS[case.spec]
    assert param_counts(case.text, IMAGE) == counts


def test_prototxt_roi_pooling(case: Case) -> None:
    """roi_pool5: 7x7 bins on conv5_3 at 1/16 scale, the stride of four 2x2 pools."""
    layer = case.walk.layers["roi_pool5"]
    assert case.walk.types["roi_pool5"] == "ROIPooling"
    assert layer.all("bottom")[0] == "conv5_3"
    p = layer.msg("roi_pooling_param")
    assert (p.get("pooled_h"), p.get("pooled_w")) == (7, 7)
    assert p.get("spatial_scale") == 0.0625
    # Caffe rounds pooled sizes up: 600x1000 -> 300x500 -> 150x250 -> 75x125 -> 38x63.
    assert case.walk.blobs["conv5_3"] == (512, 38, 63)
    assert case.walk.blobs[str(layer.all("top")[0])] == (512, 7, 7)


def test_reader_forms() -> None:
    """Comments, both quotes, ``key: { }``, one-line blocks, repeated keys, the old
    ``layers { type: ENUM }`` form, and the conv fields the two files do not use."""
    net = parse(
        """
        name: 'x'  # a comment { with braces }
        layers { name: "c" type: CONVOLUTION bottom: "data" top: "c"
          blobs_lr: 1 blobs_lr: 2
          convolution_param { num_output: 8 kernel_h: 3 kernel_w: 1 group: 2 bias_term: false
                              pad: 1 stride: 2 } }
        layers { name: 'r' type: RELU bottom: 'c' top: 'c' }
        layers { name: "f" type: INNER_PRODUCT bottom: "c" top: "f"
          inner_product_param: { num_output: 10 weight_filler { type: "xavier" std: -1.5e-2 } } }
        layers { name: "t" type: ACCURACY bottom: "f" top: "a" include { phase: TEST } }
        """
    )
    assert net.get("name") == "x"
    first = net.all("layers")[0]
    assert isinstance(first, Message) and first.all("blobs_lr") == [1, 2]
    w = walk(net, {"data": (4, 9, 6)})
    # conv: 8 * (4/2) * 3 * 1, no bias; out (9 + 2 - 3)//2 + 1 = 5, (6 + 2 - 1)//2 + 1 = 4
    assert w.params == {"c": 48, "r": 0, "f": 8 * 5 * 4 * 10 + 10}
    assert w.blobs["c"] == (8, 5, 4)
    with pytest.raises(ValueError, match="not counted"):
        walk(parse('layer { name: "b" type: "BatchNorm" bottom: "data" top: "b" }'), IMAGE)


# --- graphspec's graph against the prototxt -----------------------------------------------


@cache
def _graph(spec: str):  # noqa: ANN202 - graphspec.Graph, typed by compile_graph
    return compile_graph(load_spec(SPECS / f"{spec}.yaml"))


def test_graph_matches_prototxt_layer_by_layer(case: Case) -> None:
    graph = _graph(case.spec)
    expected = {GRAPH_NAMES.get(k, k): n for k, n in case.walk.params.items() if n}
    missing = [name for name in expected if name not in graph]
    assert not missing, f"prototxt layers with parameters missing from the graph: {missing}"
    got = {name: graph[name].params for name in expected}
    assert got == expected
    extra = {node.name: node.params for node in graph if node.params and node.name not in expected}
    assert not extra, f"graph layers with parameters the prototxt lacks: {extra}"
    assert totals(graph).params == sum(expected.values()) == TOTALS[case.spec]


def test_graph_source_map_stride_16(case: Case) -> None:
    """conv5_3 sits at stride 16, the inverse of the prototxt's spatial_scale, and has
    Caffe's 38x63 size (ceil-mode pools)."""
    graph = _graph(case.spec)
    assert graph["conv5_3"].jump == (Fraction(16), Fraction(16))
    scale = case.walk.layers["roi_pool5"].msg("roi_pooling_param").get("spatial_scale")
    assert Fraction(scale) == 1 / graph["conv5_3"].jump[0]  # type: ignore[arg-type]
    assert graph["conv5_3"].shape == case.walk.blobs["conv5_3"]
    assert graph["relu5_3"].shape == case.walk.blobs["conv5_3"]
