"""Tied decoder weights (``decoder: {upsample: tied}``).

A tied decoder layer is the transposed conv of its encoder conv with the *same* Parameter:
``conv_transpose2d(x, W)`` equals ``conv2d`` of the padded input with ``W`` rotated by 180
degrees and its in/out channels swapped. Gradients from both uses add up in ``W.grad``.

Hand count for SPEC (input 2 channels):

    c1      conv 2->4 3x3      4*2*9 + 4 =  76
    c2      conv 4->6 3x3      6*4*9 + 6 = 222
    c3      conv 6->8 3x3 s2   8*6*9 + 8 = 440
    dec_c3  tconv 8->6 tied    bias only =   6   (weight 432 shared with c3)
    dec_c2  tconv 6->4 tied    bias only =   4   (weight 216 shared with c2)
    dec_c1  tconv 4->4 (the first conv's mirror keeps its width, untied)
                               4*4*9 + 4 = 148
    head    conv 4->3 1x1      3*4 + 3   =  15
                                   total = 911   (untied: 911 + 432 + 216 = 1559)
"""

from __future__ import annotations

import copy
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compiler import compile_graph, compile_spec, count_parameters
from graphspec import SpecError, load_spec, totals
from graphspec.summary import summary_dict

SPEC = textwrap.dedent(
    """
    name: tied-tiny
    task: segmentation
    input: {channels: 2, height: 10, width: 14}
    classes: 3
    encoder:
      - stage: s
        layers:
          - {op: conv, out: 4, kernel: 3, padding: 1, name: c1}
          - {op: relu}
          - {op: conv, out: 6, kernel: 3, padding: 1, name: c2}
          - {op: relu}
          - {op: maxpool, kernel: 2, name: p1}
          - {op: conv, out: 8, kernel: 3, stride: 2, padding: 1, name: c3}
          - {op: relu}
    decoder: {upsample: tied, skips: add}
    head: {type: segmentation}
    """
)
TIED_TOTAL = 911
UNTIED_TOTAL = 911 + 8 * 6 * 9 + 6 * 4 * 9


def _model(dtype=torch.float64) -> nn.Module:
    torch.manual_seed(0)
    return compile_spec(SPEC).to(dtype)


def _capture(model: nn.Module, name: str) -> dict[str, torch.Tensor]:
    """The layer's input and output as it computed them: copies, since the ReLU after a
    conv runs in place and would overwrite the captured output."""
    seen: dict[str, torch.Tensor] = {}
    getattr(model, name).register_forward_hook(
        lambda m, args, out: seen.update(x=args[0].clone(), y=out.clone())
    )
    return seen


def test_decoder_weight_is_the_encoder_parameter() -> None:
    model = _model()
    assert model.dec_c2.weight is model.c2.weight
    assert model.dec_c3.weight is model.c3.weight
    assert isinstance(model.c2.weight, nn.Parameter)
    # Biases stay separate (the decoder's has the encoder conv's *input* width).
    assert model.dec_c2.bias is not model.c2.bias
    assert model.dec_c2.bias.shape == (4,)
    # The image-reading conv is not tied: its mirror keeps its own width.
    assert model.dec_c1.weight is not model.c1.weight
    params = list(model.parameters())
    assert sum(p is model.c2.weight for p in params) == 1
    assert sum(p is model.c3.weight for p in params) == 1
    # c1 w/b, c2 w/b, c3 w/b, dec_c3 b, dec_c2 b, dec_c1 w/b, head w/b: 12 tensors
    assert len(params) == 12
    assert len({id(p) for p in params}) == 12
    graph = compile_graph(load_spec(SPEC))
    assert graph["dec_c2"].tied_to == "c2"
    assert graph["dec_c3"].tied_to == "c3"
    assert graph["dec_c1"].tied_to is None


def test_parameter_counts_count_the_shared_weight_once() -> None:
    model = _model()
    assert count_parameters(model) == TIED_TOTAL
    graph = compile_graph(load_spec(SPEC))
    assert totals(graph).params == TIED_TOTAL
    info = summary_dict(graph)
    assert info["total_params"] == TIED_TOTAL
    assert sum(row["params"] for row in info["layers"]) == TIED_TOTAL
    untied = SPEC.replace("upsample: tied", "upsample: unpool")
    assert totals(compile_graph(load_spec(untied))).params == UNTIED_TOTAL
    assert count_parameters(compile_spec(untied)) == UNTIED_TOTAL


def test_stride1_tied_layer_is_flipped_swapped_conv() -> None:
    model = _model().eval()
    seen = _capture(model, "dec_c2")
    with torch.no_grad():
        model(torch.randn(2, 2, 10, 14, dtype=torch.float64))
    x, y = seen["x"], seen["y"]
    w, b = model.c2.weight.detach(), model.dec_c2.bias.detach()
    k, p = 3, 1
    assert x.shape == (2, 6, 10, 14)
    assert y.shape == (2, 4, 10, 14)
    torch.testing.assert_close(y, F.conv_transpose2d(x, w, b, padding=p), rtol=0, atol=1e-12)
    flipped = w.flip(-1, -2).transpose(0, 1)  # [in=6, out=4] -> [out=4, in=6], rotated 180
    as_conv = F.conv2d(F.pad(x, (k - 1 - p,) * 4), flipped, b)
    torch.testing.assert_close(y, as_conv, rtol=0, atol=1e-12)


def test_strided_tied_layer_is_conv_of_zero_stuffed_input() -> None:
    model = _model().eval()
    seen = _capture(model, "dec_c3")
    with torch.no_grad():
        model(torch.randn(2, 2, 10, 14, dtype=torch.float64))
    x, y = seen["x"], seen["y"]  # 8 x 3x4 -> 6 x 5x7 (p1's size)
    w, b = model.c3.weight.detach(), model.dec_c3.bias.detach()
    assert y.shape == (2, 6, 5, 7)
    ref = F.conv_transpose2d(x, w, b, stride=2, padding=1)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)
    # Stride 2: put one zero between input pixels, pad k-1-p = 1, convolve (stride 1).
    n, c, h, wd = x.shape
    stuffed = x.new_zeros(n, c, 2 * h - 1, 2 * wd - 1)
    stuffed[:, :, ::2, ::2] = x
    as_conv = F.conv2d(F.pad(stuffed, (1, 1, 1, 1)), w.flip(-1, -2).transpose(0, 1), b)
    torch.testing.assert_close(y, as_conv, rtol=0, atol=1e-12)


def test_backward_accumulates_both_uses_in_the_shared_weight() -> None:
    tied = _model()
    untied = copy.deepcopy(tied)
    assert untied.dec_c2.weight is untied.c2.weight  # deepcopy keeps the tie...
    untied.dec_c2.weight = nn.Parameter(untied.c2.weight.detach().clone())  # ...cut it
    untied.dec_c3.weight = nn.Parameter(untied.c3.weight.detach().clone())
    x = torch.randn(2, 2, 10, 14, dtype=torch.float64)
    g = torch.randn(2, 3, 10, 14, dtype=torch.float64)
    out_tied, out_untied = tied(x), untied(x)
    torch.testing.assert_close(out_tied, out_untied, rtol=0, atol=0)
    (out_tied * g).sum().backward()
    (out_untied * g).sum().backward()
    for enc, dec in (("c2", "dec_c2"), ("c3", "dec_c3")):
        enc_part = getattr(untied, enc).weight.grad
        dec_part = getattr(untied, dec).weight.grad
        assert enc_part.abs().sum() > 0 and dec_part.abs().sum() > 0
        assert not torch.allclose(enc_part + dec_part, enc_part)
        torch.testing.assert_close(
            getattr(tied, enc).weight.grad, enc_part + dec_part, rtol=1e-10, atol=1e-12
        )
    # Untied layers are unaffected by the tie.
    torch.testing.assert_close(tied.dec_c1.weight.grad, untied.dec_c1.weight.grad)


def test_sgd_step_moves_encoder_and_decoder_together() -> None:
    model = _model()
    before = model.c2.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.randn(1, 2, 10, 14, dtype=torch.float64)).square().mean().backward()
    opt.step()
    assert not torch.equal(model.c2.weight, before)
    assert model.dec_c2.weight is model.c2.weight


def test_tied_grouped_dilated_conv_matches_functional() -> None:
    text = textwrap.dedent(
        """
        name: tied-grouped
        task: segmentation
        input: {channels: 4, height: 12, width: 9}
        classes: 2
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 4, kernel: 3, padding: 1, name: c1}
              - {op: conv, out: 6, kernel: 3, padding: 2, dilation: 2, groups: 2, name: c2}
              - {op: maxpool, kernel: 2, name: p}
        decoder: {upsample: tied, skips: none}
        head: {type: segmentation}
        """
    )
    model = compile_spec(text).double().eval()
    assert model.dec_c2.weight is model.c2.weight
    assert model.dec_c2.weight.shape == (6, 2, 3, 3)
    seen = _capture(model, "dec_c2")
    with torch.no_grad():
        model(torch.randn(1, 4, 12, 9, dtype=torch.float64))
    ref = F.conv_transpose2d(
        seen["x"], model.c2.weight, model.dec_c2.bias, padding=2, dilation=2, groups=2
    )
    assert seen["y"].shape == (1, 4, 12, 9)
    torch.testing.assert_close(seen["y"], ref, rtol=0, atol=1e-12)


def test_tied_with_concat_skips_is_refused_at_the_skips_key() -> None:
    text = SPEC.replace("skips: add", "skips: concat")
    with pytest.raises(SpecError) as info:
        compile_spec(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("decoder:"))
    assert info.value.key_path == "decoder.skips"
    assert info.value.line == line
    assert "concat" in info.value.message


def test_tied_where_channels_cannot_tie_is_refused_at_the_layer() -> None:
    """Regression: such a conv silently got an untied learned mirror. Here the concat
    doubles c1's 8 channels to 16, so dec_c3 (restoring the concat's width) hands 16
    channels to c1's mirror, whose shared 8 -> 4 weight reads 8."""
    text = textwrap.dedent(
        """\
        name: untieable
        task: segmentation
        input: {channels: 3, height: 16, width: 16}
        classes: 2
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 4, kernel: 3, padding: 1, name: c0}
              - {op: conv, out: 8, kernel: 3, padding: 1, name: c1}
              - {op: conv, out: 8, kernel: 3, padding: 1, name: c2}
              - {op: concat, from: [c1, c2]}
              - {op: maxpool, kernel: 2}
              - {op: conv, out: 16, kernel: 3, padding: 1, name: c3}
        decoder: {upsample: tied}
        head: {type: segmentation}
        """
    )
    with pytest.raises(SpecError) as info:
        compile_graph(load_spec(text))
    assert (info.value.line, info.value.key_path) == (9, "encoder[0].layers[1]")
    assert info.value.message.startswith("layer c1: upsample: tied needs")
    assert "8 -> 4 weight (got 16 channels)" in info.value.message
    # The same network untied compiles: the widths only fail to *tie*.
    compile_graph(load_spec(text.replace("upsample: tied", "upsample: unpool")))
