"""FC -> conv pass (FCN): make a classifier fully convolutional.

``flatten -> linear`` over a C x h x w map becomes a conv with an h x w kernel (the
linear's weights reshaped), and every later linear becomes a 1x1 conv. On the original
input the network computes the same numbers; on a larger input the classifier slides
over the feature map and yields a heat-map of scores (Long et al., FCN, section 3.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphspec import Graph, Spec
from graphspec.ops import Conv, Flatten, Linear, Shape
from graphspec.shapes import infer_changed

if TYPE_CHECKING:  # torch is not needed to run the pass (graphspec check stays light)
    import torch


def fc_to_conv(graph: Graph, spec: Spec | None = None) -> Graph:
    """Return a copy of ``graph`` with flatten + linear layers turned into convolutions.

    Converted nodes keep their names and record ``from_linear`` = the map the linear used
    to read, which :func:`classifier_to_fcn_state_dict` needs. Pointwise ops between the
    flatten and the linears (dropout, activations) work on maps as well as on vectors, so
    they stay. The spec is not needed: the pass signature is shared by every pass."""
    graph = graph.copy()
    plans, flattens = _conversion_plan(graph)
    for name, map_shape in plans.items():
        node = graph[name]
        op = node.op
        assert isinstance(op, Linear)
        node.op = Conv(out=op.out, kernel=(map_shape[1], map_shape[2]), bias=op.bias, name=op.name)
        node.from_linear = map_shape
    rewired = [reader for name in flattens for reader in graph.consumers(name)]
    for name in flattens:
        graph.bypass(name)
    return infer_changed(graph, [*plans, *rewired])


def _conversion_plan(graph: Graph) -> tuple[dict[str, Shape], set[str]]:
    """Each convertible linear with the map it reads, and the flattens to remove."""
    plans: dict[str, Shape] = {}
    flattens: set[str] = set()
    for node in graph.topological():
        if not isinstance(node.op, Linear):
            continue
        source = graph.inputs_of(node.name)[0]
        while graph[source].op.pointwise or _flattens_a_vector(graph, source):
            if isinstance(graph[source].op, Flatten):  # a no-op on a vector: it goes too
                flattens.add(source)
            source = graph.inputs_of(source)[0]
        op = graph[source].op
        if isinstance(op, Flatten):
            plans[node.name] = graph[graph.inputs_of(source)[0]].shape
            flattens.add(source)
        elif isinstance(op, Linear) and source in plans:
            plans[node.name] = (graph[source].shape[0], 1, 1)
    return plans, flattens


def classifier_to_fcn_state_dict(
    state_dict: dict[str, torch.Tensor], fcn_graph: Graph
) -> dict[str, torch.Tensor]:
    """Convert a trained classifier's ``state_dict`` into the fully-convolutional one:
    each converted linear weight ``[out, C*h*w]`` becomes a conv weight ``[out, C, h, w]``
    (``flatten`` is channel-major, so a plain reshape lines the weights up)."""
    converted = dict(state_dict)
    for node in fcn_graph:
        key = f"{node.name}.weight"
        if node.from_linear is None or key not in converted:
            continue
        weight = converted[key]
        converted[key] = weight.reshape(weight.shape[0], *node.from_linear)
    return converted


def _flattens_a_vector(graph: Graph, name: str) -> bool:
    """A flatten whose input is already a vector (after another flatten or a linear)."""
    return isinstance(graph[name].op, Flatten) and len(graph.input_shapes(name)[0]) == 1
