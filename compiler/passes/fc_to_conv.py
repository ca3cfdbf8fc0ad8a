"""FC -> conv pass (FCN): make a classifier fully convolutional.

``flatten -> linear`` over a C x h x w map becomes a conv with an h x w kernel (the
linear's weights reshaped), and every later linear becomes a 1x1 conv. On the original
input the network computes the same numbers; on a larger input the classifier slides
over the feature map and yields a heat-map of scores (Long et al., FCN, section 3.1).
"""

from __future__ import annotations

import networkx as nx
import torch

from graphspec import infer_shapes, inputs_of
from graphspec.ops import GELU, Conv, Dropout, Flatten, LeakyReLU, Linear, ReLU, Sigmoid, SiLU

ELEMENTWISE = (Dropout, ReLU, LeakyReLU, GELU, SiLU, Sigmoid)


def fc_to_conv(graph: nx.DiGraph) -> nx.DiGraph:
    """Return a copy of ``graph`` with flatten + linear layers turned into convolutions.

    Converted nodes keep their names and get ``from_linear = (C, h, w)``, the map the
    linear used to read, which :func:`classifier_to_fcn_state_dict` needs. Dropout and
    activations between the flatten and the linears work on maps as well as on vectors,
    so they stay."""
    graph = graph.copy()
    plans: dict[str, tuple[int, int, int]] = {}
    flattens: set[str] = set()
    for node in nx.topological_sort(graph):
        if not isinstance(graph.nodes[node]["op"], Linear):
            continue
        source = inputs_of(graph, node)[0]
        while isinstance(graph.nodes[source]["op"], ELEMENTWISE):
            source = inputs_of(graph, source)[0]
        op = graph.nodes[source]["op"]
        if isinstance(op, Flatten):
            plans[node] = graph.nodes[inputs_of(graph, source)[0]]["shape"]
            flattens.add(source)
        elif isinstance(op, Linear) and source in plans:
            plans[node] = (graph.nodes[source]["shape"][0], 1, 1)
    for node, map_shape in plans.items():
        op = graph.nodes[node]["op"]
        kernel = (map_shape[1], map_shape[2])
        graph.nodes[node]["op"] = Conv(out=op.out, kernel=kernel, bias=op.bias, name=op.name)
        graph.nodes[node]["from_linear"] = tuple(map_shape)
    for node in flattens:
        _bypass(graph, node)
    return infer_shapes(graph)


def _bypass(graph: nx.DiGraph, node: str) -> None:
    """Remove a single-input node, connecting its input to each of its consumers."""
    (pred,) = inputs_of(graph, node)
    for _, succ, data in list(graph.out_edges(node, data=True)):
        graph.add_edge(pred, succ, **data)
    if graph.graph["output"] == node:
        graph.graph["output"] = pred
    graph.remove_node(node)


def classifier_to_fcn_state_dict(
    state_dict: dict[str, torch.Tensor], fcn_graph: nx.DiGraph
) -> dict[str, torch.Tensor]:
    """Convert a trained classifier's ``state_dict`` into the fully-convolutional one:
    each converted linear weight ``[out, C*h*w]`` becomes a conv weight ``[out, C, h, w]``
    (``flatten`` is channel-major, so a plain reshape lines the weights up)."""
    converted = dict(state_dict)
    for node, data in fcn_graph.nodes(data=True):
        shape = data.get("from_linear")
        key = f"{node}.weight"
        if shape is None or key not in converted:
            continue
        weight = converted[key]
        converted[key] = weight.reshape(weight.shape[0], *shape)
    return converted
