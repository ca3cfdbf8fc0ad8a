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
from graphspec.ops import Conv, Flatten, Linear


def fc_to_conv(graph: nx.DiGraph) -> nx.DiGraph:
    """Return a copy of ``graph`` with flatten + linear layers turned into convolutions.

    Converted nodes keep their names and get ``from_linear = (C, h, w)``, the map the
    linear used to read, which :func:`classifier_to_fcn_state_dict` needs."""
    graph = graph.copy()
    for node in list(nx.topological_sort(graph)):
        if node not in graph or not isinstance(graph.nodes[node]["op"], Linear):
            continue
        op: Linear = graph.nodes[node]["op"]
        (pred,) = inputs_of(graph, node)
        source = graph.nodes[pred]
        if isinstance(source["op"], Flatten):
            map_shape = graph.nodes[inputs_of(graph, pred)[0]]["shape"]
            _bypass(graph, pred)
        else:
            map_shape = (source["shape"][0], 1, 1)
        kernel = (map_shape[1], map_shape[2])
        graph.nodes[node]["op"] = Conv(out=op.out, kernel=kernel, bias=op.bias, name=op.name)
        graph.nodes[node]["from_linear"] = tuple(map_shape)
        infer_shapes(graph)
    return graph


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
