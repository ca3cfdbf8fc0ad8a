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

from compiler.passes.mirror_builders import MIRROR_BUILDERS, DecoderBuilder
from graphspec import INPUT, Graph, Spec, SpecError


def mirror_decoder(graph: Graph, spec: Spec) -> Graph:
    """Return a copy of ``graph`` with a mirrored decoder appended after its output."""
    decoder = spec.decoder
    if decoder is None or not decoder.mirror:
        return graph
    if decoder.upsample == "tied" and decoder.skips == "concat":
        raise SpecError.at(
            spec.source.locate(("decoder", "skips")),
            "tied decoder layers cannot read concatenated skips (expected skips: add or "
            "none with upsample: tied, got concat)",
        )
    graph = graph.copy()
    chain = main_chain(graph)
    _refuse_vectors(graph, chain)
    downs = {i for i in range(1, len(chain)) if _shrinks(graph, chain[i - 1], chain[i])}
    if not downs:
        return graph
    mirror = DecoderBuilder(graph, decoder, chain)
    for i in range(mirror.start(downs), 0, -1):
        step = mirror.step(i, down=i in downs)
        builder = MIRROR_BUILDERS.get((step.node.op.mirror, decoder.upsample))
        if builder is None:
            continue
        builder(mirror, step)
        if step.down and step.before.name != INPUT:
            # U-Net skip point: after the whole mirror of this down-sampling step.
            graph[mirror.current].skip_source = step.before.name
    graph.output = mirror.current
    return graph


def main_chain(graph: Graph) -> list[str]:
    """Encoder nodes from the input to the output, following each node's first input."""
    chain = [graph.output]
    while chain[-1] != INPUT:
        chain.append(graph.inputs_of(chain[-1])[0])
    return chain[::-1]


def _refuse_vectors(graph: Graph, chain: list[str]) -> None:
    """A decoder restores feature maps, so it cannot undo a flatten: say so at the layer.
    Only segmentation has a decoder (``graphspec.runnable``), and ``fc_to_conv`` has turned
    its flatten + linear pairs into convs, so what is left is a flatten without a linear."""
    for name in chain:
        node = graph[name]
        if len(node.shape) != 3:
            raise SpecError.at(
                node.loc,
                f"decoder cannot mirror '{name}': its {node.op.op} makes a vector of "
                f"{node.shape[0]:,} values and a decoder restores feature maps (expected "
                "C x H x W maps up to the encoder's output; remove the flatten, or follow "
                "it with a linear, which becomes a conv)",
            )


def _shrinks(graph: Graph, before: str, name: str) -> bool:
    a, b = graph[before].shape, graph[name].shape
    if graph[name].op.keeps_size or len(a) != 3 or len(b) != 3:
        return False
    return b[1] < a[1] or b[2] < a[2]
