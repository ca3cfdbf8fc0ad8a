"""The builders of ``mirror_decoder``: how each encoder layer is undone.

:data:`MIRROR_BUILDERS` maps (the layer's mirror rule, the decoder's ``upsample`` mode) to
a builder that appends the layer's mirror through a :class:`DecoderBuilder`; the table in
:mod:`compiler.passes.mirror_decoder` says the same in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from compiler.passes.append import append_node
from graphspec import INPUT, Graph, Node, SourceLocation, SpecError
from graphspec.ops import (
    AvgPool,
    BatchNorm,
    Conv,
    ConvTranspose,
    MaxPool,
    MaxUnpool,
    MirrorRule,
    Op,
    Upsample,
)
from graphspec.schema import Decoder

Upsampling = str
"""A ``decoder.upsample`` mode: unpool | transposed | tied | bilinear."""


@dataclass(frozen=True)
class MirrorStep:
    """One encoder layer to undo: the layer, its input, and what its mirror must give."""

    node: Node
    before: Node
    index: int
    down: bool  # the layer shrinks the map
    width: int  # channels the mirror restores (see the conventions above)

    @property
    def target(self) -> tuple[int, int]:
        return (self.before.shape[1], self.before.shape[2])


class DecoderBuilder:
    """The decoder being appended: the chain it undoes and its current last node."""

    def __init__(self, graph: Graph, decoder: Decoder, chain: list[str]) -> None:
        self.graph, self.decoder, self.chain = graph, decoder, chain
        self.current = graph.output

    @property
    def unet(self) -> bool:
        return self.decoder.upsample == "transposed"

    def start(self, downs: set[int]) -> int:
        """Where undoing begins: the last down-sampling step, or the very end when the
        bottleneck changed the width (undone before unpooling)."""
        start = max(downs)
        end_channels = self.graph[self.chain[-1]].shape[0]
        if not self.unet and end_channels != self.graph[self.chain[start]].shape[0]:
            return len(self.chain) - 1
        return start

    def step(self, i: int, down: bool) -> MirrorStep:
        node, before = self.graph[self.chain[i]], self.graph[self.chain[i - 1]]
        if before.name == INPUT:
            width = node.shape[0]  # the first conv's mirror keeps its own width
        else:
            width = node.shape[0] if self.unet and not down else before.shape[0]
        return MirrorStep(node, before, i, down, width)

    @property
    def channels(self) -> int:
        return self.graph[self.current].shape[0]

    @property
    def size(self) -> tuple[int, int]:
        shape = self.graph[self.current].shape
        return (shape[1], shape[2])

    def add(self, name: str, op: Op, like: Node) -> Node:
        """Append a decoder node mirroring encoder node ``like``."""
        node = append_node(
            self.graph,
            name,
            op,
            [self.current],
            role="decoder",
            loc=like.loc,
            stage=f"dec_{like.stage}",
        )
        self.current = name
        return node

    def follow_ops(self, step: MirrorStep) -> None:
        """Repeat the norms and activations that follow the encoder layer after its mirror."""
        posts: list[Op] = []
        for name in self.chain[step.index + 1 :]:
            op = self.graph[name].op
            if op.mirror != "follow":
                break
            if isinstance(op, BatchNorm) and not self.decoder.batchnorm:
                continue
            posts.append(op.model_copy(update={"name": None, "from_": None}))
        for j, post in enumerate(posts):
            twice = sum(p.op == post.op for p in posts) > 1
            self.add(f"dec_{step.node.name}_{post.op}{j if twice else ''}", post, step.node)


def transpose_of(
    conv: Conv | MaxPool | AvgPool,
    out: int,
    current: tuple[int, int],
    target: tuple[int, int],
    loc: SourceLocation,
) -> ConvTranspose:
    """A transposed conv with ``conv``'s geometry taking ``current`` back to ``target``:
    the padding and output_padding are solved for, so odd sizes come back exactly."""
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
            f"cannot mirror this {conv.op} exactly with a transposed conv "
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


def conv_padding_for_mirror(conv: Conv) -> tuple[int, int] | None:
    """Padding of the plain conv equal to a stride-1 transposed conv with ``conv``'s geometry
    (``d(k-1) - p``); None when negative. Learned decoder convs are emitted this way: same
    sizes and parameter count, and PyTorch's conv kernels are faster than transposed ones."""
    if conv.stride != (1, 1):
        return None
    pad = tuple(
        d * (k - 1) - p for k, d, p in zip(conv.kernel, conv.dilation, conv.padding, strict=True)
    )
    return pad if min(pad) >= 0 else None  # type: ignore[return-value]


def _weight_numel(graph: Graph, conv: Node) -> int:
    """Elements of an encoder conv's weight (what a tied mirror shares)."""
    op = conv.op
    assert isinstance(op, Conv)
    c_in = graph[graph.inputs_of(conv.name)[0]].shape[0]
    return conv.shape[0] * (c_in // op.groups) * op.kernel[0] * op.kernel[1]


# -- the builders: one per (mirror rule of the encoder layer, upsample mode) ---------------
def _unpool(m: DecoderBuilder, step: MirrorStep) -> None:
    """Max-unpool with the pool's own indices (SegNet)."""
    pool = step.node
    op = pool.op
    assert isinstance(op, MaxPool)
    if m.channels != pool.shape[0]:
        raise SpecError.at(
            pool.loc,
            f"cannot unpool {m.channels} channels with the indices of a "
            f"{pool.shape[0]}-channel max-pool (expected equal channel counts; "
            "use upsample: transposed or bilinear)",
        )
    unpool = MaxUnpool(
        pool=pool.name,
        kernel=op.kernel,
        stride=op.strides,
        padding=op.padding,
        dilation=op.dilation,
        size=step.target,
    )
    m.add(f"dec_{pool.name}", unpool, pool)


def _resize(m: DecoderBuilder, step: MirrorStep) -> None:
    """A bilinear resize back to the layer's input size."""
    m.add(f"dec_{step.node.name}", Upsample(size=step.target, mode="bilinear"), step.node)


def _transposed_pool(m: DecoderBuilder, step: MirrorStep) -> None:
    """A learned transposed conv with the pool's geometry, restoring its channels (U-Net)."""
    op = step.node.op
    assert isinstance(op, MaxPool | AvgPool)
    up = transpose_of(op, step.before.shape[0], m.size, step.target, step.node.loc)
    m.add(f"dec_{step.node.name}", up, step.node)


def _learned_conv(m: DecoderBuilder, step: MirrorStep) -> None:
    """A stride-1 conv's mirror as the equivalent plain conv; otherwise a learned
    transposed conv that restores the exact input size."""
    op = step.node.op
    assert isinstance(op, Conv)
    pad = conv_padding_for_mirror(op)
    if not step.down and pad is not None:
        mirror: Op = op.model_copy(
            update={"out": step.width, "padding": pad, "name": None, "from_": None}
        )
    else:
        mirror = transpose_of(op, step.width, m.size, step.target, step.node.loc)
    m.add(f"dec_{step.node.name}", mirror, step.node)
    m.follow_ops(step)


def _tied_conv(m: DecoderBuilder, step: MirrorStep) -> None:
    """A transposed conv sharing the encoder conv's weight (DeconvNet, tied). The first
    conv's mirror keeps its own width, so it is learned (documented); any other conv
    whose channels cannot line up with its weight is an error, never a silent fallback."""
    op = step.node.op
    assert isinstance(op, Conv)
    if step.before.name == INPUT:
        _learned_conv(m, step)
        return
    if m.channels != step.node.shape[0]:
        raise SpecError.at(
            step.node.loc,
            f"layer {step.node.name}: upsample: tied needs the decoder to reach it with the "
            f"conv's {step.node.shape[0]} output channels, so the transposed conv can share "
            f"its {step.node.shape[0]} -> {step.before.shape[0]} weight (got {m.channels} "
            "channels); use upsample: unpool or transposed, or make the widths line up",
        )
    up = transpose_of(op, step.width, m.size, step.target, step.node.loc)
    node = m.add(f"dec_{step.node.name}", up, step.node)
    node.tied_to = step.node.name
    node.shared_params = _weight_numel(m.graph, step.node)
    m.follow_ops(step)


def _bilinear_conv(m: DecoderBuilder, step: MirrorStep) -> None:
    """A resize then a 3x3 conv for a down-sampling conv; stride-1 convs as learned."""
    if not step.down:
        _learned_conv(m, step)
        return
    m.add(f"dec_{step.node.name}_up", Upsample(size=step.target, mode="bilinear"), step.node)
    m.add(f"dec_{step.node.name}", Conv(out=step.width, kernel=3, padding=1), step.node)
    m.follow_ops(step)


Builder = Callable[[DecoderBuilder, MirrorStep], None]
MIRROR_BUILDERS: dict[tuple[MirrorRule, Upsampling], Builder] = {
    ("max_pool", "unpool"): _unpool,
    ("max_pool", "tied"): _unpool,
    ("max_pool", "transposed"): _transposed_pool,
    ("max_pool", "bilinear"): _resize,
    ("avg_pool", "unpool"): _resize,
    ("avg_pool", "tied"): _resize,
    ("avg_pool", "transposed"): _transposed_pool,
    ("avg_pool", "bilinear"): _resize,
    ("resize", "unpool"): _resize,
    ("resize", "tied"): _resize,
    ("resize", "transposed"): _resize,
    ("resize", "bilinear"): _resize,
    ("conv", "unpool"): _learned_conv,
    ("conv", "transposed"): _learned_conv,
    ("conv", "tied"): _tied_conv,
    ("conv", "bilinear"): _bilinear_conv,
}
"""How each kind of encoder layer is undone in each ``upsample`` mode (the table in the
module docstring); a layer whose rule has no entry (``none``, ``follow``) is skipped."""
