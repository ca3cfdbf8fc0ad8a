"""FC -> conv (FCN): a classifier made fully convolutional computes the same scores, and
slides over a larger input as a heat-map of the classifier's scores on input windows.

The classifier uses unpadded convs and non-overlapping pools so that the feature map of
a crop is exactly a crop of the feature map (no border effects): on a 20x24 input

    conv1 3x3    -> 18x22     pool1 2x2/2 -> 9x11
    conv2 3x3    -> 7x9       pool2 2x2/2 -> 3x4     flatten: 8*3*4 = 96 features

Classifier heads: one linear; linear -> relu -> dropout -> linear (the second linear
used to break the pass: it read the first one's C x 1 x 1 map during shape inference);
and flatten -> dropout -> linear (AlexNet-style; the flatten used to stay).

Total stride S = 2 * 2 = 4, so on an H x W input the heat-map is
((H - 20) / 4 + 1) x ((W - 24) / 4 + 1) and cell (i, j) scores the window at (4i, 4j).
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from compiler import GraphNet, classifier_to_fcn_state_dict, fc_to_conv
from graphspec import INPUT, build_graph, infer_shapes, load_spec, totals
from graphspec.ops import Conv, Flatten, Input, Linear
from tests import SPECS

H0, W0, STRIDE, CLASSES = 20, 24, 2 * 2, 5
FEATURES = (8, 3, 4)

CLASSIFIERS = {
    "one-linear": """
          - {op: flatten}
          - {op: linear, out: classes, name: fc}
    """,
    "mlp": """
          - {op: flatten}
          - {op: linear, out: 16, name: fc1}
          - {op: relu}
          - {op: dropout, p: 0.5}
          - {op: linear, out: classes, name: fc2}
    """,
    "dropout-first": """
          - {op: flatten}
          - {op: dropout, p: 0.5}
          - {op: linear, out: classes, name: fc}
    """,
    # a flatten of a vector is a no-op; the pass removes it with the real one (the fuzz
    # found these raising IndexError)
    "flatten-twice": """
          - {op: flatten}
          - {op: flatten}
          - {op: linear, out: classes, name: fc}
    """,
    "flatten-between": """
          - {op: flatten}
          - {op: linear, out: 16, name: fc1}
          - {op: flatten}
          - {op: relu}
          - {op: linear, out: classes, name: fc2}
    """,
}
KINDS = list(CLASSIFIERS)


def spec_text(kind: str) -> str:
    head = textwrap.dedent(
        f"""
        name: fc-classifier
        task: classification
        input: {{channels: 3, height: {H0}, width: {W0}}}
        classes: {CLASSES}
        encoder:
          - stage: features
            layers:
              - {{op: conv, out: 6, kernel: 3, name: conv1}}
              - {{op: batchnorm, name: bn1}}
              - {{op: relu}}
              - {{op: maxpool, kernel: 2, name: pool1}}
              - {{op: conv, out: 8, kernel: 3, name: conv2}}
              - {{op: relu}}
              - {{op: maxpool, kernel: 2, name: pool2}}
          - stage: classifier
            layers:
        """
    )
    return head + textwrap.indent(textwrap.dedent(CLASSIFIERS[kind]).strip("\n"), " " * 6) + "\n"


def _random_bn(model: nn.Module) -> None:
    gen = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=gen))
            module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)


def _pair(kind: str) -> tuple[nn.Module, nn.Module, object]:
    """(classifier, fully-convolutional copy with the converted weights, fcn graph)."""
    spec = load_spec(spec_text(kind))
    torch.manual_seed(0)
    classifier = GraphNet(build_graph(spec)).double().eval()
    _random_bn(classifier)
    fcn_graph = fc_to_conv(build_graph(spec), spec)
    fcn = GraphNet(fcn_graph).double().eval()
    fcn.load_state_dict(classifier_to_fcn_state_dict(classifier.state_dict(), fcn_graph))
    return classifier, fcn, fcn_graph


def heatmap_size(n: int, n0: int) -> int:
    """Layer by layer: valid 3x3 convs take 2, 2x2/2 pools halve (floor), then the
    converted fc slides its h x w kernel with stride 1."""
    conv1, pool1 = n - 2, (n - 2) // 2
    conv2, pool2 = pool1 - 2, (pool1 - 2) // 2
    del conv1, conv2
    fc_kernel = ((n0 - 2) // 2 - 2) // 2
    return pool2 - fc_kernel + 1


def test_heatmap_size_from_the_strides() -> None:
    assert heatmap_size(H0, H0) == 1 and heatmap_size(W0, W0) == 1
    for n, n0 in ((32, H0), (40, W0), (44, W0)):
        assert heatmap_size(n, n0) == (n - n0) // STRIDE + 1


@pytest.mark.parametrize("kind", KINDS)
def test_converted_graph_has_convolutions_with_the_linear_shapes(kind: str) -> None:
    spec = load_spec(spec_text(kind))
    graph = fc_to_conv(build_graph(spec), spec)
    assert not any(isinstance(node.op, Flatten | Linear) for node in graph)
    first = "fc1" if kind in ("mlp", "flatten-between") else "fc"
    op = graph[first].op
    assert isinstance(op, Conv)
    assert tuple(op.kernel) == FEATURES[1:]
    assert graph[first].from_linear == FEATURES
    assert graph[graph.output].shape == (CLASSES, 1, 1)


@pytest.mark.parametrize("kind", KINDS)
def test_same_scores_on_the_original_input(kind: str) -> None:
    classifier, fcn, _ = _pair(kind)
    first = "fc1" if kind in ("mlp", "flatten-between") else "fc"
    assert torch.equal(
        getattr(fcn, first).weight,
        getattr(classifier, first).weight.reshape(-1, *FEATURES),
    )
    x = torch.randn(3, 3, H0, W0, dtype=torch.float64)
    with torch.no_grad():
        scores, maps = classifier(x), fcn(x)
    assert scores.shape == (3, CLASSES)
    assert maps.shape == (3, CLASSES, 1, 1)
    torch.testing.assert_close(maps[:, :, 0, 0], scores, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_heatmap_cells_score_the_matching_windows(kind: str) -> None:
    classifier, fcn, _ = _pair(kind)
    height, width = 32, 40
    rows, cols = (height - H0) // STRIDE + 1, (width - W0) // STRIDE + 1
    assert (rows, cols) == (heatmap_size(height, H0), heatmap_size(width, W0)) == (4, 5)
    x = torch.randn(2, 3, height, width, dtype=torch.float64)
    with torch.no_grad():
        heat = fcn(x)
        assert heat.shape == (2, CLASSES, rows, cols)
        crops = torch.stack(
            [
                x[:, :, i * STRIDE : i * STRIDE + H0, j * STRIDE : j * STRIDE + W0]
                for i in range(rows)
                for j in range(cols)
            ]
        )  # [rows*cols, N, C, H0, W0]
        scores = classifier(crops.flatten(0, 1)).view(rows, cols, 2, CLASSES)
    for i in range(rows):
        for j in range(cols):
            torch.testing.assert_close(heat[:, :, i, j], scores[i, j], rtol=0, atol=1e-5)
    # Neighbouring windows differ, so a constant heat-map would not pass.
    assert not torch.allclose(heat[:, :, 0, 0], heat[:, :, 1, 1])


def test_vgg16_classifier_becomes_fully_convolutional() -> None:
    """Graph level (no weights built): fc6 reads 512 x 7 x 7, so it becomes a 7x7 conv,
    fc7/fc8 become 1x1 convs; parameters are unchanged. Fed 384 x 384, the converted graph
    has a 12 x 12 pool5 map (stride 32), so the scores form a (12 - 7 + 1) = 6 x 6 map."""
    spec = load_spec(SPECS / "vgg16.yaml")
    graph = fc_to_conv(build_graph(spec), spec)
    assert tuple(graph["fc6"].op.kernel) == (7, 7)
    assert graph["fc6"].from_linear == (512, 7, 7)
    assert tuple(graph["fc7"].op.kernel) == (1, 1)
    assert tuple(graph["fc8"].op.kernel) == (1, 1)
    assert graph[graph.output].shape == (1000, 1, 1)
    assert totals(graph).params == 138_357_544
    graph[INPUT].op = Input(channels=3, height=384, width=384)
    infer_shapes(graph)
    assert graph["pool5"].shape == (512, 384 // 32, 384 // 32)
    assert graph[graph.output].shape == (1000, 6, 6)
