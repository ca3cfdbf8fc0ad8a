"""Mirror pass: derive a decoder by walking the encoder in reverse.

Every encoder layer that shrinks the feature map is undone by an up-sampling layer
that restores its exact input size (odd sizes included), chosen by ``upsample``:

============  ===================  =================================  ==================
upsample      max-pool             conv (strided or size-reducing)    stride-1 convs
============  ===================  =================================  ==================
unpool        max-unpool (indices) learned transposed conv            conv
transposed    learned transp. conv learned transposed conv            conv
tied          max-unpool (indices) transposed conv *tied* to encoder  tied transp. conv
bilinear      bilinear resize      bilinear resize + 3x3 conv         conv
============  ===================  =================================  ==================

A learned stride-1 mirror is a transposed conv with the encoder conv's geometry, which is
exactly a conv with padding ``d(k-1) - p``; it is emitted as that conv (faster in PyTorch).

Average pools are undone by a resize (or a learned transposed conv with ``transposed``).
Layers after the last down-sampling step (a bottleneck that keeps the size) are not
mirrored. Batch-norm and activations that follow an encoder conv follow its mirror too.

Channel counts follow one of the two conventions of the literature:

* SegNet / DeconvNet (``unpool``, ``tied``, ``bilinear``): an unpool cannot change channels,
  so each decoder conv restores the channel count its encoder conv changed.
* U-Net (``transposed``): the learned up-sampling restores the channel count, and decoder
  convs keep the width of their stage.

The mirror of the first conv (the one reading the image) keeps its own width rather than
squeezing back to the image's 3 channels; the head maps it to class scores. Tied layers
share the encoder conv's weight Parameter: ``conv_transpose2d(x, W)`` is ``conv2d`` of the
padded input with ``W`` flipped 180 degrees and its in/out channels swapped.
"""

from __future__ import annotations

import networkx as nx

from graphspec import SpecError, inputs_of
from graphspec.graph import INPUT, infer_node
from graphspec.ir_ops import MaxUnpool
from graphspec.ops import (
    GELU,
    AdaptiveAvgPool,
    AvgPool,
    BatchNorm,
    Conv,
    ConvTranspose,
    LeakyReLU,
    MaxPool,
    Op,
    ReLU,
    Sigmoid,
    SiLU,
    Upsample,
)
from graphspec.schema import Decoder

POST_OPS = (BatchNorm, ReLU, LeakyReLU, GELU, SiLU, Sigmoid)


def main_chain(graph: nx.DiGraph) -> list[str]:
    """Encoder nodes from the input to the output, following each node's first input."""
    chain = [graph.graph["output"]]
    while chain[-1] != INPUT:
        chain.append(inputs_of(graph, chain[-1])[0])
    return chain[::-1]


def _shrinks(graph: nx.DiGraph, before: str, node: str) -> bool:
    a, b = graph.nodes[before]["shape"], graph.nodes[node]["shape"]
    return len(a) == 3 and len(b) == 3 and (b[1] < a[1] or b[2] < a[2])


class _Builder:
    """Appends decoder nodes one after another."""

    def __init__(self, graph: nx.DiGraph) -> None:
        self.graph = graph
        self.current = graph.graph["output"]

    def add(self, name: str, op: Op, like: str, **attrs: object) -> str:
        enc = self.graph.nodes[like]
        self.graph.add_node(
            name,
            op=op,
            role="decoder",
            stage=f"dec_{enc['stage']}",
            loc=enc["loc"],
            mirrors=like,
            **attrs,
        )
        self.graph.add_edge(self.current, name, port=0)
        self.current = name
        infer_node(self.graph, name)
        return name

    @property
    def channels(self) -> int:
        return self.graph.nodes[self.current]["shape"][0]


def _transpose_of(
    conv: Conv | MaxPool | AvgPool, out: int, current: tuple[int, int], target: tuple[int, int], loc
) -> ConvTranspose:
    kernel = conv.kernel
    stride = getattr(conv, "strides", None) or conv.stride
    dilation = getattr(conv, "dilation", (1, 1))
    pads, extra = [], []
    for n, t, k, s, p, d in zip(
        current, target, kernel, stride, conv.padding, dilation, strict=True
    ):
        # The layer's own padding first; a ceil_mode pool on an odd size needs one more.
        for pad in [p, *range(d * (k - 1) + 1)]:
            base = (n - 1) * s - 2 * pad + d * (k - 1) + 1
            if 0 <= t - base < max(s, d):
                pads.append(pad)
                extra.append(t - base)
                break
    if len(extra) != 2:
        raise SpecError.at(
            loc,
            f"cannot mirror this {conv.kind} exactly with a transposed conv "
            f"(expected to restore {target[0]}x{target[1]}, got a size that "
            "no padding and output_padding reach); use upsample: unpool or bilinear",
        )
    padding = tuple(pads)
    groups = getattr(conv, "groups", 1)
    return ConvTranspose(
        out=out,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=tuple(extra),
        groups=groups,
        bias=getattr(conv, "bias", True),
    )


def mirror_decoder(graph: nx.DiGraph, decoder: Decoder) -> nx.DiGraph:
    """Return a copy of ``graph`` with a mirrored decoder appended after its output."""
    graph = graph.copy()
    chain = main_chain(graph)
    downs = [i for i in range(1, len(chain)) if _shrinks(graph, chain[i - 1], chain[i])]
    if not downs:
        return graph
    unet = decoder.upsample == "transposed"
    tied = decoder.upsample == "tied"
    b = _Builder(graph)
    start = downs[-1]
    end_channels = graph.nodes[chain[-1]]["shape"][0]
    if not unet and end_channels != graph.nodes[chain[start]]["shape"][0]:
        start = len(chain) - 1  # the bottleneck changed the width: undo it before unpooling
    for i in range(start, 0, -1):
        node, before = chain[i], chain[i - 1]
        data = graph.nodes[node]
        op = data["op"]
        in_shape = graph.nodes[before]["shape"]
        target = tuple(in_shape[1:])
        if before == INPUT:
            width = data["shape"][0]  # the first conv's mirror keeps its own width
        else:
            width = data["shape"][0] if unet and i not in downs else in_shape[0]
        down = i in downs
        if isinstance(op, MaxPool) and decoder.upsample in ("unpool", "tied"):
            if b.channels != data["shape"][0]:
                raise SpecError.at(
                    data["loc"],
                    f"cannot unpool {b.channels} channels with the indices of a "
                    f"{data['shape'][0]}-channel max-pool (expected equal channel counts; "
                    "use upsample: transposed or bilinear)",
                )
            b.add(
                f"dec_{node}",
                MaxUnpool(
                    pool=node, kernel=op.kernel, stride=op.strides, padding=op.padding, size=target
                ),
                node,
            )
        elif isinstance(op, MaxPool | AvgPool | AdaptiveAvgPool):
            if unet and not isinstance(op, AdaptiveAvgPool):
                cur = tuple(graph.nodes[b.current]["shape"][1:])
                b.add(f"dec_{node}", _transpose_of(op, in_shape[0], cur, target, data["loc"]), node)
            else:
                b.add(f"dec_{node}", Upsample(size=target, mode="bilinear"), node)
        elif isinstance(op, Conv):
            cur = tuple(graph.nodes[b.current]["shape"][1:])
            if decoder.upsample == "bilinear" and down:
                b.add(f"dec_{node}_up", Upsample(size=target, mode="bilinear"), node)
                b.add(f"dec_{node}", Conv(out=width, kernel=3, padding=1), node)
            else:
                tie = tied and before != INPUT and b.channels == data["shape"][0]
                if tie:
                    attrs = {"tied_to": node, "shared_params": _weight_numel(graph, node)}
                    b.add(
                        f"dec_{node}",
                        _transpose_of(op, width, cur, target, data["loc"]),
                        node,
                        **attrs,
                    )
                elif not down and _conv_pad(op) is not None:
                    b.add(
                        f"dec_{node}",
                        op.model_copy(
                            update={
                                "out": width,
                                "padding": _conv_pad(op),
                                "name": None,
                                "from_": None,
                            }
                        ),
                        node,
                    )
                else:
                    b.add(f"dec_{node}", _transpose_of(op, width, cur, target, data["loc"]), node)
            posts = _post_ops(graph, chain, i, decoder.batchnorm)
            for j, post in enumerate(posts):
                twice = sum(p.kind == post.kind for p in posts) > 1
                b.add(f"dec_{node}_{post.kind}{j if twice else ''}", post, node)
        else:
            continue
        if down and before != INPUT:
            # U-Net skip point: after the whole mirror of this down-sampling step.
            graph.nodes[b.current]["skip_source"] = before
    graph.graph["output"] = b.current
    graph.graph["decoder"] = decoder.upsample
    return graph


def _conv_pad(conv: Conv) -> tuple[int, int] | None:
    """Padding of the plain conv equal to a stride-1 transposed conv with ``conv``'s geometry
    (``d(k-1) - p``); None when negative. Learned decoder convs are emitted this way: same
    sizes and parameter count, and PyTorch's conv kernels are faster than transposed ones."""
    if conv.stride != (1, 1):
        return None
    pad = tuple(
        d * (k - 1) - p for k, d, p in zip(conv.kernel, conv.dilation, conv.padding, strict=True)
    )
    return pad if min(pad) >= 0 else None  # type: ignore[return-value]


def _weight_numel(graph: nx.DiGraph, conv: str) -> int:
    op: Conv = graph.nodes[conv]["op"]
    (pred,) = inputs_of(graph, conv)
    c_in = graph.nodes[pred]["shape"][0]
    return graph.nodes[conv]["shape"][0] * (c_in // op.groups) * op.kernel[0] * op.kernel[1]


def _post_ops(graph: nx.DiGraph, chain: list[str], i: int, batchnorm: bool) -> list[Op]:
    """Batch-norm and activations that directly follow encoder node ``chain[i]``."""
    out: list[Op] = []
    for node in chain[i + 1 :]:
        op = graph.nodes[node]["op"]
        if not isinstance(op, POST_OPS):
            break
        if isinstance(op, BatchNorm) and not batchnorm:
            continue
        out.append(op.model_copy(update={"name": None, "from_": None}))
    return out
