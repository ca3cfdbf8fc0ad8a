"""Resource caps (graphspec.limits): every absurd size is a SpecError at its line.

Each reproducer used to crash (OverflowError, a raw pydantic ValidationError, a zip
ValueError) or pass ``check`` with a model no machine can allocate. The numbers in the
messages are worked by hand in the comments.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from compiler import compile_graph
from compiler.driver import PassStep
from graphspec import Graph, SpecError, build_graph, load_spec
from graphspec.cli import main
from graphspec.limits import DEFAULT_LIMITS, Limits
from graphspec.ops import Conv
from tests import REPO

HEAD = "name: r\ninput: {channels: 3, height: 32, width: 32}\nclasses: 2\n"


def _spec(body: str, head: str = HEAD) -> str:
    return head + textwrap.dedent(body)


def _error(text: str, limits: Limits = DEFAULT_LIMITS) -> SpecError:
    with pytest.raises(SpecError) as info:
        compile_graph(load_spec(text), limits=limits)
    return info.value


ONE_CONV = "encoder:\n  - stage: s\n    layers:\n      - {op: conv, out: 8, kernel: 3}\n"


@pytest.mark.parametrize("width", ["1.0e+308", "1.0e+300"])
def test_huge_width_multiplier_is_refused_at_the_out_key(width: str) -> None:
    # Was an OverflowError (1e308 x 8 is inf) or a 300-digit parameter count.
    err = _error(_spec(f"scale: {{width: {width}}}\n" + ONE_CONV))
    assert (err.line, err.key_path) == (8, "encoder[0].layers[0].out")
    assert "max_channels=65,536" in err.message


def test_forty_huge_upsamples_stop_at_the_first() -> None:
    layers = "".join("      - {op: upsample, scale: 2147483647}\n" for _ in range(40))
    err = _error(_spec("encoder:\n  - stage: s\n    layers:\n" + layers))
    # 32 x 2147483647 = 68,719,476,704 pixels a side, on line 7 (the first upsample).
    assert err.line == 7
    assert "max_side=16,384, got 68,719,476,704" in err.message


def test_width_1e10_with_a_decoder_is_a_spec_error_not_a_validation_error() -> None:
    body = """\
        task: segmentation
        scale: {width: 1.0e+10}
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, padding: 1}
              - {op: maxpool, kernel: 2}
        decoder: {upsample: transposed}
        head: {type: segmentation}
        """
    err = _error(_spec(body))
    assert err.line == 9 and "8e+10 channels" in err.message


def test_classes_beyond_the_channel_cap_stop_at_classes() -> None:
    text = (REPO / "specs" / "ssd-small.yaml").read_text()
    text = text.replace("\nclasses: 3\n", "\nclasses: 2147483647\n")
    err = _error(text)
    assert err.key_path == "classes" and "got 2,147,483,647" in err.message


def test_out_and_input_sizes() -> None:
    err = _error(_spec(ONE_CONV.replace("out: 8", "out: 1000000000")))
    assert err.line == 7 and "channels" in err.message and "got 1,000,000,000" in err.message
    head = "name: r\ninput: {channels: 3, height: 100000, width: 100000}\nclasses: 2\n"
    err = _error(_spec(ONE_CONV, head))
    assert err.key_path == "input" and "max_side=16,384, got 100,000" in err.message
    # 10000 x 10000 fits each side but not H*W <= 2**26 = 67,108,864.
    head = "name: r\ninput: {channels: 3, height: 10000, width: 10000}\nclasses: 2\n"
    err = _error(_spec(ONE_CONV, head))
    assert "max_pixels=67,108,864, got 100,000,000" in err.message


def test_a_transposed_mirror_of_a_huge_stride_is_refused_at_the_pool() -> None:
    body = """\
        task: segmentation
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, padding: 1}
              - {op: maxpool, kernel: 2, stride: 999999999}
        decoder: {upsample: transposed}
        head: {type: segmentation}
        """
    err = _error(_spec(body))
    # The pool makes 32x32 -> 1x1; its mirror would stuff 999999999 zeros to get 32 back.
    assert err.line == 9 and "stride 999999999" in err.message
    assert "expected at most 32" in err.message and "decoder's conv_transpose" in err.message
    # The encoder alone is what PyTorch runs (one window, a 1x1 output): accepted.
    encoder = _spec(body.split("decoder:")[0].replace("task: segmentation", ""))
    graph = build_graph(load_spec(encoder))
    assert graph[graph.output].shape == (8, 1, 1)


def test_param_and_flop_caps_are_configurable() -> None:
    head = "name: r\ninput: {channels: 3, height: 1024, width: 1024}\nclasses: 2\n"
    text = _spec(ONE_CONV.replace("kernel: 3}", "kernel: 3, padding: 1}").replace("8", "512"), head)
    spec = load_spec(text)
    # params 512*3*9 + 512 = 14,336; FLOPs 2*512*27*1024*1024 = 28,991,029,248 (28.99 G).
    build_graph(spec, limits=Limits(max_params=14_336, max_gflops=29))
    with pytest.raises(SpecError, match=r"max_params=14,335, got 14,336"):
        build_graph(spec, limits=Limits(max_params=14_335))
    with pytest.raises(SpecError, match=r"max_gflops=28, got 28.991 by this layer"):
        build_graph(spec, limits=Limits(max_gflops=28))
    with pytest.raises(SpecError, match=r"max_channels=511, got 512"):
        build_graph(spec, limits=Limits(max_channels=511))
    with pytest.raises(ValueError, match="max_side"):
        Limits(max_side=0)


def test_a_decoder_cannot_mirror_a_flatten() -> None:
    body = """\
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 4, kernel: 3, padding: 1}
              - {op: maxpool, kernel: 2}
              - {op: flatten}
        decoder: {upsample: transposed}
        """
    # Segmentation: fc_to_conv turns flatten + linear into convs first, so only a flatten
    # without a linear after it reaches the decoder; on line 10 it makes 1,024 values.
    err = _error(_spec(body, HEAD + "task: segmentation\n"))
    assert err.line == 10 and "vector of 1,024 values" in err.message
    # Any other task: a decoder is refused outright (its head reads the encoder).
    linear = "\n              - {op: linear, out: classes}"
    err = _error(_spec(body.replace("{op: flatten}", "{op: flatten}" + linear)))
    assert err.key_path == "decoder" and "segmentation only" in err.message


def test_a_pass_that_builds_an_out_of_range_op_reports_its_section() -> None:
    def bad_pass(graph: Graph, spec: object) -> Graph:
        Conv(out=2**40, kernel=3)
        return graph

    spec = load_spec(_spec(ONE_CONV + "head: {type: classification}\n"))
    with pytest.raises(SpecError) as info:
        PassStep(bad_pass, "head").apply(Graph("r"), spec)
    assert info.value.key_path == "head" and info.value.line == 8
    assert not isinstance(info.value, ValidationError)


def test_check_prints_one_line_and_exits_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(_spec(ONE_CONV.replace("out: 8", "out: 1000000000")))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f"{path}:7:9: encoder[0].layers[0]: conv output channels over the resource cap "
        "(expected at most max_channels=65,536, got 1,000,000,000)"
    ]
