"""Exact output sizes of mirrored decoders on odd inputs, for every upsample x skip mode.

The encoder has a ceil_mode max-pool, a strided conv, an overlapping 3x3/2 max-pool and a
bottleneck that keeps its width. The compiled network must map [N, C, H, W] to
[N, classes, H, W], and every node's actual tensor must have the shape the graph IR
inferred for it.
"""

from __future__ import annotations

import math
import textwrap

import pytest
import torch

from compiler import compile_graph, compile_spec
from graphspec import INPUT, SpecError, load_spec
from graphspec.ops import MaxUnpool
from tests import SPECS

SIZES = [(97, 131), (33, 47), (64, 64)]
UPSAMPLE = ["unpool", "transposed", "tied", "bilinear"]
SKIPS = ["concat", "add", "none"]
CLASSES = 3


def spec_text(height: int, width: int, upsample: str, skips: str) -> str:
    return textwrap.dedent(
        f"""
        name: odd-sizes
        task: segmentation
        input: {{channels: 3, height: {height}, width: {width}}}
        classes: {CLASSES}
        encoder:
          - stage: s1
            layers:
              - {{op: conv, out: 4, kernel: 3, padding: 1, name: c1}}
              - {{op: batchnorm}}
              - {{op: relu}}
              - {{op: maxpool, kernel: 2, stride: 2, ceil_mode: true, name: p1}}
          - stage: s2
            layers:
              - {{op: conv, out: 6, kernel: 3, stride: 2, padding: 1, name: c2}}
              - {{op: relu}}
              - {{op: conv, out: 6, kernel: 3, padding: 1, name: c3}}
              - {{op: relu}}
              - {{op: maxpool, kernel: 3, stride: 2, name: p2}}
              - {{op: conv, out: 6, kernel: 3, padding: 1, name: c4}}
              - {{op: relu}}
        decoder: {{upsample: {upsample}, skips: {skips}}}
        head: {{type: segmentation}}
        """
    )


def encoder_sizes(n: int) -> dict[str, int]:
    """Encoder sizes along one axis, by PyTorch's formulas."""
    p1 = math.ceil((n - 2) / 2) + 1  # ceil_mode 2x2/2 (the last window starts inside)
    c2 = (p1 + 2 - 3) // 2 + 1  # 3x3/2, padding 1
    p2 = (c2 - 3) // 2 + 1  # 3x3/2, no padding
    return {"c1": n, "p1": p1, "c2": c2, "c3": c2, "p2": p2, "c4": p2}


def _cases():
    for height, width in SIZES:
        for up in UPSAMPLE:
            for skips in SKIPS:
                if up == "tied" and skips == "concat":
                    continue
                yield pytest.param(height, width, up, skips, id=f"{height}x{width}-{up}-{skips}")


def test_encoder_sizes_are_as_hand_computed() -> None:
    graph = compile_graph(load_spec(spec_text(97, 131, "unpool", "none")))
    rows, cols = encoder_sizes(97), encoder_sizes(131)
    assert (rows["p1"], rows["c2"], rows["p2"]) == (49, 25, 12)
    assert (cols["p1"], cols["c2"], cols["p2"]) == (66, 33, 16)
    for node in ("c1", "p1", "c2", "c3", "p2", "c4"):
        assert graph[node].shape[1:] == (rows[node], cols[node]), node


@pytest.mark.parametrize(("height", "width", "upsample", "skips"), list(_cases()))
def test_output_and_every_node_shape(height: int, width: int, upsample: str, skips: str) -> None:
    text = spec_text(height, width, upsample, skips)
    torch.manual_seed(0)
    model = compile_spec(text).eval()
    graph = model.graph  # the IR the module was built from
    seen: dict[str, tuple[int, ...]] = {}
    nodes = [n for n in graph.names if n != INPUT]

    def hook(name: str):
        def record(module, args, out):
            if isinstance(out, tuple):  # max-pool: (values, indices)
                values, indices = out
                assert indices.shape == values.shape
                out = values
            seen[name] = tuple(out.shape)

        return record

    for node in nodes:
        getattr(model, node).register_forward_hook(hook(node))
    batch = 2
    with torch.no_grad():
        out = model(torch.randn(batch, 3, height, width))
    assert tuple(out.shape) == (batch, CLASSES, height, width)
    assert set(seen) == set(nodes)
    for node in nodes:
        assert seen[node] == (batch, *graph[node].shape), node
    # Each up-sampling step restores the size its encoder step started from, exactly.
    rows, cols = encoder_sizes(height), encoder_sizes(width)
    restored = {"dec_p2": (rows["c3"], cols["c3"]), "dec_c2": (rows["p1"], cols["p1"])}
    restored["dec_p1"] = (height, width)
    for node, size in restored.items():
        assert graph[node].shape[1:] == size, node


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_tied_with_concat_raises_spec_error(height: int, width: int) -> None:
    text = spec_text(height, width, "tied", "concat")
    with pytest.raises(SpecError) as info:
        compile_spec(text)
    assert info.value.key_path == "decoder.skips"
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("decoder:"))
    assert info.value.line == line


WIDENING = textwrap.dedent(
    """
    name: widening-bottleneck
    task: segmentation
    input: {channels: 1, height: 8, width: 8}
    classes: 2
    encoder:
      - stage: s
        layers:
          - {op: conv, out: 2, kernel: 3, padding: 1, name: c1}
          - {op: maxpool, kernel: 2, stride: 2, name: p1}
          - {op: conv, out: 4, kernel: 1, name: wide}
    decoder: {upsample: unpool, skips: none}
    head: {type: segmentation}
    """
)


def test_unpool_never_reads_more_channels_than_its_pool_indexed() -> None:
    """Regression: a bottleneck after the last pool that widens the map (2 -> 4) used to
    be left unmirrored, so the SegNet-style unpool read 4 channels with indices for 2 and
    scatter_add silently left channels 2..3 at zero. Restoring the width (or refusing the
    spec) are both correct."""
    try:
        graph = compile_graph(load_spec(WIDENING))
    except SpecError:
        return  # refusing the spec would be a correct outcome too
    for node in graph:
        if isinstance(node.op, MaxUnpool):
            (src,) = graph.inputs_of(node.name)
            assert graph[src].shape[0] == graph[node.op.pool].shape[0]
    # And at run time every unpooled channel carries data.
    model = compile_spec(WIDENING).eval()
    seen: dict[str, torch.Tensor] = {}
    model.dec_p1.register_forward_hook(lambda m, args, out: seen.update(out=out))
    with torch.no_grad():
        model(torch.randn(1, 1, 8, 8))
    assert (seen["out"].abs().sum(dim=(2, 3)) > 0).all()


REPEATED_POST_OPS = textwrap.dedent(
    """
    name: relu-relu
    task: segmentation
    input: {channels: 3, height: 13, width: 11}
    classes: 2
    encoder:
      - stage: s
        layers:
          - {op: conv, out: 4, kernel: 3, padding: 1, name: c1}
          - {op: maxpool, kernel: 2, name: p1}
          - {op: conv, out: 6, kernel: 3, padding: 1, name: c2}
          - {op: relu}
          - {op: relu, name: again}
          - {op: maxpool, kernel: 2, name: p2}
    decoder: {upsample: unpool, skips: none}
    head: {type: segmentation}
    """
)


def _residual_with_decoder(decoder: str) -> str:
    """The shipped residual encoder (its stem's relu is followed by the blocks' `relu`
    named block_in) with a mirrored decoder."""
    text = (SPECS / "encoder-residual.yaml").read_text()
    return text.replace(
        "head: {type: segmentation}", f"decoder: {decoder}\nhead: {{type: segmentation}}"
    )


@pytest.mark.parametrize(
    "which",
    [
        "relu-relu",
        "{upsample: transposed, skips: concat}",
        "{upsample: unpool, skips: add}",
        "{upsample: tied, skips: none}",
    ],
)
def test_repeated_post_ops_are_mirrored(which: str) -> None:
    """Regression: two post-ops of one kind after a mirrored conv (relu, relu) both got
    the decoder name dec_<conv>_relu; the second add_node overwrote the first with a
    self-loop and compile_spec crashed with NetworkXUnfeasible (the shipped residual
    encoder with any decoder)."""
    text = REPEATED_POST_OPS if which == "relu-relu" else _residual_with_decoder(which)
    model = compile_spec(text).eval()
    c, h, w = model.graph[INPUT].shape
    seen: dict[str, tuple[int, ...]] = {}
    for node in model.graph.names:
        if node != INPUT:
            getattr(model, node).register_forward_hook(
                lambda m, a, out, node=node: seen.update(
                    {node: tuple((out[0] if isinstance(out, tuple) else out).shape)}
                )
            )
    with torch.no_grad():
        out = model(torch.randn(2, c, h, w))
    assert tuple(out.shape) == (2, model.graph[model.graph.output].shape[0], h, w)
    for node, shape in seen.items():
        assert shape == (2, *model.graph[node].shape), node
    if which == "relu-relu":  # both relus after c2 are mirrored after its decoder conv
        graph = model.graph
        relus = [n.name for n in graph if n.role == "decoder" and n.op.op == "relu"]
        assert relus == ["dec_c2_relu0", "dec_c2_relu1"]
        assert graph.inputs_of("dec_c2_relu0") == ["dec_c2"]
        assert graph.inputs_of("dec_c2_relu1") == ["dec_c2_relu0"]
