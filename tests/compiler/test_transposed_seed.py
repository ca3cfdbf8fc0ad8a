"""The seed lecture's transposed-convolution example, worked by hand.

A transposed conv stamps ``X(i, j) * K`` onto the output at ``(i*s, j*s)`` and sums the
overlaps. With X = [[120,150,120],[100,50,110],[25,25,10]] and K = [[1,-1],[2,-2]]:

stride 1 (4x4; each output row r collects X rows r (times K row 0) and r-1 (times K row 1),
each column c collects X(., c) - X(., c-1)):

    row 0:  120, 150-120, 120-150, -120                       = 120,   30,  -30, -120
    row 1:  (100, 50-100, 110-50, -110) + 2*(120, 30, -30, -120)
                                                              = 340,   10,    0, -350
    row 2:  (25, 0, 10-25, -10) + 2*(100, -50, 60, -110)      = 225, -100,  105, -230
    row 3:  2*(25, 0, -15, -10)                               =  50,    0,  -30,  -20

stride 2 (6x6): the stamps do not overlap; each X(i, j) becomes the 2x2 block
[[x, -x], [2x, -2x]] at (2i, 2j).
"""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.nn.functional as F

from compiler import compile_graph, compile_spec
from graphspec import load_spec
from graphspec.ops import ConvTranspose

X = [[120.0, 150.0, 120.0], [100.0, 50.0, 110.0], [25.0, 25.0, 10.0]]
K = [[1.0, -1.0], [2.0, -2.0]]

STRIDE1 = [
    [120.0, 30.0, -30.0, -120.0],
    [340.0, 10.0, 0.0, -350.0],
    [225.0, -100.0, 105.0, -230.0],
    [50.0, 0.0, -30.0, -20.0],
]

STRIDE2 = [
    [120.0, -120.0, 150.0, -150.0, 120.0, -120.0],
    [240.0, -240.0, 300.0, -300.0, 240.0, -240.0],
    [100.0, -100.0, 50.0, -50.0, 110.0, -110.0],
    [200.0, -200.0, 100.0, -100.0, 220.0, -220.0],
    [25.0, -25.0, 25.0, -25.0, 10.0, -10.0],
    [50.0, -50.0, 50.0, -50.0, 20.0, -20.0],
]


def _spec(size: int, stride: int) -> str:
    return textwrap.dedent(
        f"""
        name: transposed-seed
        task: segmentation
        input: {{channels: 1, height: {size}, width: {size}}}
        classes: 1
        encoder:
          - stage: s
            layers:
              - {{op: conv, out: 1, kernel: 2, stride: {stride}, bias: false, name: enc}}
        decoder: {{upsample: transposed}}
        head: {{type: segmentation}}
        """
    )


def _map(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows).view(1, 1, len(rows), len(rows[0]))


def _assert_entrywise(actual: torch.Tensor, expected: list[list[float]]) -> None:
    got = actual.reshape(len(expected), len(expected[0])).tolist()
    for r, row in enumerate(expected):
        for c, value in enumerate(row):
            assert got[r][c] == value, f"entry ({r}, {c}): expected {value}, got {got[r][c]}"


def stamp(x: torch.Tensor, k: torch.Tensor, stride: int, padding: int = 0, out_pad: int = 0):
    """Reference transposed conv of one 2-D map by stamping (no torch convolution)."""
    n, m = x.shape
    kh, kw = k.shape
    full = torch.zeros(
        (n - 1) * stride + kh + out_pad, (m - 1) * stride + kw + out_pad, dtype=x.dtype
    )
    for i in range(n):
        for j in range(m):
            full[i * stride : i * stride + kh, j * stride : j * stride + kw] += x[i, j] * k
    height = (n - 1) * stride - 2 * padding + kh + out_pad
    width = (m - 1) * stride - 2 * padding + kw + out_pad
    return full[padding : padding + height, padding : padding + width]


def test_stamp_reference_reproduces_the_hand_worked_matrices() -> None:
    _assert_entrywise(stamp(torch.tensor(X), torch.tensor(K), 1), STRIDE1)
    _assert_entrywise(stamp(torch.tensor(X), torch.tensor(K), 2), STRIDE2)


@pytest.mark.parametrize(("stride", "expected"), [(1, STRIDE1), (2, STRIDE2)])
def test_functional_conv_transpose_matches_hand_result(stride, expected) -> None:
    out = F.conv_transpose2d(_map(X), _map(K), stride=stride)
    assert out.shape == (1, 1, len(expected), len(expected))
    _assert_entrywise(out, expected)


@pytest.mark.parametrize(("stride", "size", "expected"), [(1, 4, STRIDE1), (2, 6, STRIDE2)])
def test_compiled_decoder_layer_matches_hand_result(stride, size, expected) -> None:
    """Encoder: a 2x2 conv (stride 1 on 4x4, or 2 on 6x6) that shrinks the map to 3x3;
    its mirror is a 2x2 transposed conv with the same stride back to the input size.
    The encoder kernel [[1,0],[0,0]] copies X out of the image, the decoder kernel is K
    and the 1x1 head is the identity, so the network computes X (*)^T K exactly."""
    graph = compile_graph(load_spec(_spec(size, stride)))
    op = graph["dec_enc"].op
    assert isinstance(op, ConvTranspose)
    assert tuple(op.kernel) == (2, 2)
    assert tuple(op.stride) == (stride, stride)
    assert tuple(op.padding) == (0, 0)
    assert tuple(op.output_padding) == (0, 0)
    assert graph["enc"].shape == (1, 3, 3)
    assert graph["dec_enc"].shape == (1, size, size)

    model = compile_spec(_spec(size, stride)).eval()
    with torch.no_grad():
        model.enc.weight.copy_(_map([[1.0, 0.0], [0.0, 0.0]]))
        model.dec_enc.weight.copy_(_map(K))
        model.head.weight.fill_(1.0)
        model.head.bias.zero_()
    assert model.dec_enc.bias is None
    image = torch.full((1, 1, size, size), -7.0)  # pixels the encoder kernel skips
    image[0, 0, : 3 * stride : stride, : 3 * stride : stride] = torch.tensor(X)
    seen: dict[str, torch.Tensor] = {}
    model.enc.register_forward_hook(lambda m, args, out: seen.update(enc=out))
    model.dec_enc.register_forward_hook(lambda m, args, out: seen.update(dec=out))
    with torch.no_grad():
        out = model(image)
    assert seen["enc"].tolist() == [[X]]
    _assert_entrywise(seen["dec"], expected)
    _assert_entrywise(out, expected)


@pytest.mark.parametrize(
    ("size", "out_pad"),
    [(7, 0), (8, 1)],  # 7 -> 4 -> 7 needs no output_padding, 8 -> 4 -> 8 needs 1
)
def test_compiled_strided_mirror_matches_stamping_with_padding(size, out_pad) -> None:
    text = textwrap.dedent(
        f"""
        name: strided
        task: segmentation
        input: {{channels: 1, height: {size}, width: {size}}}
        classes: 1
        encoder:
          - stage: s
            layers:
              - {{op: conv, out: 1, kernel: 3, stride: 2, padding: 1, name: enc}}
        decoder: {{upsample: transposed}}
        head: {{type: segmentation}}
        """
    )
    graph = compile_graph(load_spec(text))
    assert tuple(graph["dec_enc"].op.output_padding) == (out_pad, out_pad)
    model = compile_spec(text).double().eval()
    seen: dict[str, torch.Tensor] = {}
    model.dec_enc.register_forward_hook(lambda m, args, out: seen.update(x=args[0], y=out))
    with torch.no_grad():
        model(torch.randn(1, 1, size, size, dtype=torch.float64))
    weight, bias = model.dec_enc.weight.detach(), model.dec_enc.bias.detach()
    expected = stamp(seen["x"][0, 0], weight[0, 0], 2, padding=1, out_pad=out_pad) + bias[0]
    assert seen["y"].shape == (1, 1, size, size)
    torch.testing.assert_close(seen["y"][0, 0], expected, rtol=0, atol=1e-12)
