"""``head: {type: segmentation, fuse: true}``: the decoder's last conv is the classifier.

Expected counts are worked out by hand from the layer list of the spec below (a copy of
``specs/segnet-small.yaml``): bias-free 3x3 convs with batch-norm (2 per channel).
"""

from __future__ import annotations

import textwrap

import pytest
import torch

from compiler import compile_graph, compile_spec, count_parameters
from graphspec import SpecError, load_spec, totals
from graphspec.ops import Conv

SEGNET_SMALL = textwrap.dedent(
    """
    name: segnet-small
    task: segmentation
    input: {channels: 3, height: 64, width: 64}
    classes: 4
    encoder:
      - stage: block1
        layers:
          - {op: conv, out: 16, kernel: 3, padding: 1, bias: false}
          - {op: batchnorm}
          - {op: relu}
          - {op: conv, out: 16, kernel: 3, padding: 1, bias: false}
          - {op: batchnorm}
          - {op: relu}
          - {op: maxpool, kernel: 2, stride: 2, name: pool1}
      - stage: block2
        layers:
          - {op: conv, out: 32, kernel: 3, padding: 1, bias: false}
          - {op: batchnorm}
          - {op: relu}
          - {op: conv, out: 32, kernel: 3, padding: 1, bias: false}
          - {op: batchnorm}
          - {op: relu}
          - {op: maxpool, kernel: 2, stride: 2, name: pool2}
      - stage: block3
        layers:
          - {op: conv, out: 64, kernel: 3, padding: 1, bias: false}
          - {op: batchnorm}
          - {op: relu}
          - {op: conv, out: 64, kernel: 3, padding: 1, bias: false}
          - {op: batchnorm}
          - {op: relu}
          - {op: maxpool, kernel: 2, stride: 2, name: pool3}
    decoder: {upsample: unpool, skips: none}
    head: {type: segmentation, fuse: true}
    """
)


def test_fuse_replaces_the_1x1_head_by_the_last_decoder_conv() -> None:
    spec = load_spec(SEGNET_SMALL)
    graph = compile_graph(spec)
    out = graph[graph.output]
    assert out.shape == (4, 64, 64)
    assert out.op == Conv(out=4, kernel=3, padding=1, bias=True)
    # It reads the ReLU after the mirror of block1's second conv (layer 3 of the stage).
    assert graph.inputs_of(graph.output) == ["dec_block1_3_relu"]
    assert not [n.name for n in graph if isinstance(n.op, Conv) and n.op.kernel == (1, 1)]
    # 9*3*16 + 2*16, 9*16*16 + 32, 9*16*32 + 64, 9*32*32 + 64, 9*32*64 + 128, 9*64*64 + 128
    encoder = 464 + 2_336 + 4_672 + 9_280 + 18_560 + 36_992
    # Mirrors 64->64, 64->32, 32->32, 32->16, 16->16, each + batch-norm; then the
    # classifier 9*16*4 + 4 biases in place of conv1_1's 16->16 mirror and a 1x1 head.
    decoder = 36_992 + 18_496 + 9_280 + 4_640 + 2_336
    expected = encoder + decoder + 580
    assert expected == 144_628
    assert totals(graph).params == expected
    model = compile_spec(spec)
    assert count_parameters(model) == expected
    with torch.no_grad():
        assert tuple(model(torch.zeros(1, 3, 64, 64)).shape) == (1, 4, 64, 64)


def test_without_fuse_the_1x1_head_stays() -> None:
    text = SEGNET_SMALL.replace("fuse: true", "fuse: false")
    graph = compile_graph(load_spec(text))
    assert graph[graph.output].op == Conv(out=4, kernel=1)
    # conv1_1's mirror 9*16*16 + 32 and the 1x1 head 16*4 + 4 instead of the 580 above.
    assert totals(graph).params == 144_628 - 580 + 2_336 + 68


def test_fuse_without_a_decoder_is_a_spec_error_at_head_fuse() -> None:
    text = SEGNET_SMALL.replace("decoder: {upsample: unpool, skips: none}\n", "")
    with pytest.raises(SpecError) as info:
        compile_graph(load_spec(text))
    assert info.value.key_path == "head.fuse"
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("head:"))
    assert info.value.line == line
    assert "decoder" in info.value.message
