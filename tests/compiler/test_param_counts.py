"""Parameter counts of the reference specs against published figures.

Every expected number is derived here from the published layer lists (conv weights
k*k*c_in*c_out plus one bias per output channel, batch-norm 2 per channel: scale and
shift; running statistics are buffers, not parameters), never read from our output.
Graph totals are cheap; one small spec is also built and counted as an ``nn.Module``.
"""

from __future__ import annotations

import textwrap

import pytest

from compiler import compile_graph, compile_spec, count_parameters
from graphspec import build_graph, load_spec, totals
from tests import SPECS


def conv(c_in: int, c_out: int, k: int = 3, bias: bool = True) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


def bn(c: int) -> int:
    return 2 * c


def linear(f_in: int, f_out: int) -> int:
    return f_in * f_out + f_out


# VGG-16 configuration D (Simonyan & Zisserman, table 1): 13 3x3 convs.
VGG16_CONVS = [
    (3, 64), (64, 64),
    (64, 128), (128, 128),
    (128, 256), (256, 256), (256, 256),
    (256, 512), (512, 512), (512, 512),
    (512, 512), (512, 512), (512, 512),
]  # fmt: skip
VGG16_FEATURES = sum(conv(i, o) for i, o in VGG16_CONVS)


def graph_params(name: str) -> int:
    return totals(compile_graph(load_spec(SPECS / f"{name}.yaml"))).params


def test_vgg16_features_subtotal() -> None:
    # The well-known size of VGG-16's conv layers (torchvision's vgg16().features).
    assert VGG16_FEATURES == 14_714_688


def test_vgg16_matches_the_published_138_357_544() -> None:
    expected = VGG16_FEATURES + linear(512 * 7 * 7, 4096) + linear(4096, 4096)
    expected += linear(4096, 1000)
    assert expected == 138_357_544
    assert totals(build_graph(load_spec(SPECS / "vgg16.yaml"))).params == expected


def test_unet_matches_the_paper_layer_list() -> None:
    """Ronneberger et al. 2015, fig. 1: two 3x3 convs per level (64 ... 1024), 2x2
    up-convs halving the channels, 3x3 convs reading the concatenation, a 1x1 output
    conv to 2 classes; 1 input channel."""
    contracting = [
        conv(1, 64), conv(64, 64),
        conv(64, 128), conv(128, 128),
        conv(128, 256), conv(256, 256),
        conv(256, 512), conv(512, 512),
        conv(512, 1024), conv(1024, 1024),
    ]  # fmt: skip
    expanding = []
    for c in (512, 256, 128, 64):
        expanding += [conv(2 * c, c, k=2), conv(2 * c, c), conv(c, c)]
    output = conv(64, 2, k=1)
    expected = sum(contracting) + sum(expanding) + output
    assert expected == 31_030_658
    assert round(expected / 1e6, 1) == 31.0  # the usual "31.0M"
    assert graph_params("unet") == expected


def test_segnet_matches_segnet_tutorial_29_449_355() -> None:
    """Badrinarayanan et al. 2017 as laid out in SegNet-Tutorial's segnet_train.prototxt:
    the 13 VGG-16 convs (3x3, with biases) each with batch-norm (scale + shift); 13 decoder
    convs, each mapping back to the width its encoder conv read, all with batch-norm except
    conv1_1_D, which is the classifier: 3x3, 64 -> 11 CamVid classes, with a bias and
    nothing after it (no separate 1x1 head)."""
    encoder = sum(conv(i, o) + bn(o) for i, o in VGG16_CONVS)
    # The prototxt's decoder, written out: conv5_3_D, 5_2_D, 5_1_D, 4_3_D, 4_2_D, 4_1_D,
    # 3_3_D, 3_2_D, 3_1_D, 2_2_D, 2_1_D, 1_2_D (each + batch-norm), then conv1_1_D.
    decoder = [
        (512, 512), (512, 512), (512, 512),
        (512, 512), (512, 512), (512, 256),
        (256, 256), (256, 256), (256, 128),
        (128, 128), (128, 64),
        (64, 64),
    ]  # fmt: skip
    # Per layer, 9 c_in c_out + c_out bias + 2 c_out batch-norm: 3 x 2,360,832 (5_x_D)
    # + 2 x 2,360,832 + 1,180,416 (4_x_D) + 2 x 590,592 + 295,296 (3_x_D)
    # + 147,840 + 73,920 (2_x_D) + 37,056 (1_2_D) = 14,719,872.
    per_layer = [2_360_832] * 5 + [1_180_416, 590_592, 590_592, 295_296]
    per_layer += [147_840, 73_920, 37_056]
    assert [conv(i, o) + bn(o) for i, o in decoder] == per_layer
    classifier = 9 * 64 * 11 + 11  # conv1_1_D = 6,347
    # Encoder: VGG-16's 14,714,688 conv parameters + 2 x 4,224 batch-norm channels.
    assert encoder == 14_714_688 + 2 * 4_224 == 14_723_136
    expected = encoder + sum(per_layer) + classifier
    assert sum(per_layer) == 14_719_872
    assert expected == 29_449_355
    assert graph_params("segnet-vgg16") == expected


@pytest.mark.parametrize(
    ("name", "skips"),
    [("fcn32s-vgg16", []), ("fcn8s-vgg16", [512, 256])],  # score_pool4, score_pool3
)
def test_fcn_vgg16_matches_the_paper_within_rounding(name: str, skips: list[int]) -> None:
    """Long et al. 2015, table 1: VGG-16 with fc6 as a 7x7 conv (512 -> 4096), fc7 as a
    1x1 conv, 1x1 class scores (21 classes) on fc7 and on each skip; bilinear up-sampling
    has no parameters. The paper quotes 134M for FCN-VGG16 (32s, 16s and 8s)."""
    expected = VGG16_FEATURES + conv(512, 4096, k=7) + conv(4096, 4096, k=1)
    expected += conv(4096, 21, k=1) + sum(conv(c, 21, k=1) for c in skips)
    assert expected == {"fcn32s-vgg16": 134_346_581, "fcn8s-vgg16": 134_362_751}[name]
    assert round(expected / 1e6) == 134
    assert graph_params(name) == expected


def test_deconvnet_tied_counts_each_shared_kernel_once() -> None:
    """VGG-16 + batch-norm, fc6 (7x7 valid) and fc7 (1x1) with batch-norm; the tied
    decoder re-uses every encoder kernel except the image-reading conv's mirror (which
    keeps 64 channels), so each tied decoder layer adds only its bias and batch-norm."""
    encoder = sum(conv(i, o) + bn(o) for i, o in VGG16_CONVS)
    encoder += conv(512, 4096, k=7) + bn(4096) + conv(4096, 4096, k=1) + bn(4096)
    # fc6's mirror (4096 -> 512) and the 12 tied conv mirrors: bias + batch-norm each.
    tied = [512] + [i for i, _ in reversed(VGG16_CONVS[1:])]
    decoder = sum(c + bn(c) for c in tied)
    decoder += conv(64, 64) + bn(64)  # conv1_1's untied mirror
    expected = encoder + decoder + conv(64, 21, k=1)
    assert graph_params("deconvnet-vgg16") == expected


SMALL_SEGNET = textwrap.dedent(
    """
    name: small-segnet
    task: segmentation
    input: {channels: 3, height: 32, width: 32}
    classes: 4
    encoder:
      - stage: block1
        layers:
          - {op: conv, out: 16, kernel: 3, padding: 1, bias: false}
          - {op: batchnorm}
          - {op: relu}
          - {op: maxpool, kernel: 2, stride: 2, name: pool1}
      - stage: block2
        layers:
          - {op: conv, out: 32, kernel: 3, padding: 1, bias: false}
          - {op: batchnorm}
          - {op: relu}
          - {op: maxpool, kernel: 2, stride: 2, name: pool2}
      - stage: block3
        layers:
          - {op: conv, out: 64, kernel: 3, padding: 1, bias: false}
          - {op: batchnorm}
          - {op: relu}
          - {op: maxpool, kernel: 2, stride: 2, name: pool3}
    decoder: {upsample: unpool, skips: none}
    head: {type: segmentation}
    """
)

SMALL_UNET = textwrap.dedent(
    """
    name: small-unet
    task: segmentation
    input: {channels: 3, height: 32, width: 32}
    classes: 4
    encoder:
      - stage: down1
        layers:
          - {op: conv, out: 16, kernel: 3, padding: 1}
          - {op: relu}
          - {op: conv, out: 16, kernel: 3, padding: 1}
          - {op: relu}
          - {op: maxpool, kernel: 2, stride: 2, name: pool1}
      - stage: down2
        layers:
          - {op: conv, out: 32, kernel: 3, padding: 1}
          - {op: relu}
          - {op: conv, out: 32, kernel: 3, padding: 1}
          - {op: relu}
          - {op: maxpool, kernel: 2, stride: 2, name: pool2}
      - stage: bottleneck
        layers:
          - {op: conv, out: 64, kernel: 3, padding: 1}
          - {op: relu}
          - {op: conv, out: 64, kernel: 3, padding: 1}
          - {op: relu}
    decoder: {upsample: transposed, skips: concat}
    head: {type: segmentation}
    """
)


def test_small_segnet_graph_total_equals_the_built_module() -> None:
    """Three bias-free 3x3 convs 3->16->32->64 with batch-norm; the decoder mirrors them
    64->32->16->16 (bias-free, batch-norm; the first conv's mirror keeps 16); 1x1 head to
    4 classes."""
    encoder = sum(conv(i, o, bias=False) + bn(o) for i, o in [(3, 16), (16, 32), (32, 64)])
    decoder = sum(conv(i, o, bias=False) + bn(o) for i, o in [(64, 32), (32, 16), (16, 16)])
    expected = encoder + decoder + conv(16, 4, k=1)
    assert expected == 49_236
    spec = load_spec(SMALL_SEGNET)
    assert totals(compile_graph(spec)).params == expected
    assert count_parameters(compile_spec(spec)) == expected


def test_small_unet_graph_total_equals_the_built_module() -> None:
    """16/32/64 channels; 2x2 up-convs back to 32 and 16 channels, each followed by a
    3x3 conv on the concatenation (twice the width) and one more 3x3 conv."""
    encoder = [conv(3, 16), conv(16, 16), conv(16, 32), conv(32, 32)]
    encoder += [conv(32, 64), conv(64, 64)]
    decoder = [conv(64, 32, k=2), conv(64, 32), conv(32, 32)]
    decoder += [conv(32, 16, k=2), conv(32, 16), conv(16, 16)]
    expected = sum(encoder) + sum(decoder) + conv(16, 4, k=1)
    assert expected == 117_092
    spec = load_spec(SMALL_UNET)
    assert totals(compile_graph(spec)).params == expected
    assert count_parameters(compile_spec(spec)) == expected


@pytest.mark.parametrize("name", ["segnet-small", "unet-small", "fcn-small", "tiny-encoder"])
def test_shipped_small_specs_graph_total_equals_the_built_module(name: str) -> None:
    """The graph's arithmetic and the built module's parameters agree on the shipped
    small specs (whatever their current widths)."""
    spec = load_spec(SPECS / f"{name}.yaml")
    model = compile_spec(spec)
    assert totals(compile_graph(spec)).params == count_parameters(model)
