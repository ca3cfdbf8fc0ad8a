"""Segmentation head pass: turn the last feature map into per-pixel class logits.

* ``segmentation``: a 1x1 conv to ``classes`` logits; when the map is smaller than the
  input (no decoder, e.g. FCN-32s), a bilinear resize brings it to the input's exact size.
  With ``fuse: true`` the decoder's last conv becomes the classifier instead (published
  SegNet): it is replaced by a conv of the same geometry with ``classes`` outputs and a
  bias, and the norm and activation nodes after it are dropped (logits are not normalised).
* ``fcn``: FCN-16s/8s: score the final map and each named ``skips`` feature with 1x1 convs,
  and fuse them coarse-to-fine by resize + add before the final resize (Long et al.).
* ``classification``, detection heads or no head: nothing to do here.
"""

from __future__ import annotations

from compiler.passes.append import append_node
from graphspec import Graph, SourceLocation, Spec, SpecError
from graphspec.ops import Add, Conv, ConvTranspose, Op, Upsample
from graphspec.schema import FCNHead, SegmentationHead


def add_segmentation_head(graph: Graph, spec: Spec) -> Graph:
    """Return a copy of ``graph`` ending in the spec's segmentation or FCN head."""
    head = spec.head
    if not isinstance(head, SegmentationHead | FCNHead):
        return graph
    graph = graph.copy()
    loc = spec.source.locate(("head",))
    if isinstance(head, SegmentationHead) and head.fuse:
        current = _fuse_last_conv(graph, spec)
    else:
        current = _head(graph, "head", Conv(out=spec.classes, kernel=1), [graph.output], loc)
    for i, skip in enumerate(head.skips if isinstance(head, FCNHead) else []):
        if skip not in graph or graph[skip].role != "encoder":
            raise SpecError.at(
                spec.source.locate(("head", "skips", i)),
                f"unknown layer name '{skip}' (expected the name of an encoder layer)",
            )
        up = _head(graph, f"head_up{i}", Upsample(size=graph[skip].shape[1:]), [current], loc)
        score = _head(graph, f"head_score_{skip}", Conv(out=spec.classes, kernel=1), [skip], loc)
        current = _head(graph, f"head_fuse{i}", Add(), [up, score], loc)
    size = (spec.input.height, spec.input.width)
    if tuple(graph[current].shape[1:]) != size:
        current = _head(graph, "head_resize", Upsample(size=size), [current], loc)
    graph.output = current
    return graph


def _head(graph: Graph, name: str, op: Op, inputs: list[str], loc: SourceLocation) -> str:
    return append_node(graph, name, op, inputs, role="head", loc=loc, stage="head").name


def _fuse_last_conv(graph: Graph, spec: Spec) -> str:
    """Replace the decoder's last conv, and the norms/activations after it, by a conv of
    the same geometry to ``classes`` logits; return its name.

    Only a conv whose output reaches the graph's output through one-reader ``follow`` nodes
    can be fused: anything else (no decoder, a skip reading the conv, an up-sampling after
    it) would change the network beyond that one layer, so it is an error."""
    loc = spec.source.locate(("head", "fuse"))
    chain = [graph.output]
    while graph[chain[-1]].op.mirror == "follow" and graph[chain[-1]].role == "decoder":
        chain.append(graph.inputs_of(chain[-1])[0])
    last = graph[chain[-1]]
    readers = [graph.consumers(name) for name in chain[1:]]
    if (
        last.role != "decoder"
        or not isinstance(last.op, Conv | ConvTranspose)
        or any(len(r) != 1 for r in readers)
    ):
        raise SpecError.at(
            loc,
            "nothing to fuse the classifier into (expected a decoder conv followed only "
            f"by norms/activations before the output, got "
            f"'{last.name}' ({last.op.op}, {last.role}))",
        )
    for name in chain:
        graph.bypass(name)
    # groups=1: the classifier mixes all channels; a bias, as no norm follows it any more.
    op = last.op.model_copy(
        update={"out": spec.classes, "groups": 1, "bias": True, "name": None, "from_": None}
    )
    return _head(graph, "head", op, [graph.output], spec.source.locate(("head",)))
