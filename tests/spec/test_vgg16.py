"""specs/vgg16.yaml against an independently built VGG-16 (configuration D).

torchvision cannot be imported here, so the reference network is written out in plain
``torch.nn`` from the configuration table of Simonyan & Zisserman (2015), in the same
layer order as the spec. Everything runs on the ``meta`` device: shapes, parameter
counts and FLOPs need no real memory or arithmetic.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import graphspec
from tests import REPO

SPEC = REPO / "specs" / "vgg16.yaml"

# Published parameter count of VGG-16 (torchvision.models.vgg16, ImageNet, 1000 classes).
PUBLISHED_PARAMS = 138_357_544

# Configuration D: output channels of each 3x3 conv, "M" for a 2x2 max-pool.
CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def reference_vgg16() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in CFG_D:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU()]
            channels = item
    layers += [
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 1000),
    ]
    return nn.Sequential(*layers)


@pytest.fixture(scope="module")
def graph() -> graphspec.Graph:
    return graphspec.build_graph(graphspec.load_spec(SPEC))


@pytest.fixture(scope="module")
def reference() -> dict[str, object]:
    """The torch model on the meta device, its per-layer output shapes and FLOP counts."""
    with torch.device("meta"):
        model = reference_vgg16()
        x = torch.empty(1, 3, 224, 224)
    shapes: list[tuple[int, ...]] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
        for m in model
    ]
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    for h in hooks:
        h.remove()
    per_module = counter.get_flop_counts()
    layer_flops = [sum(per_module.get(f"Sequential.{i}", {}).values()) for i in range(len(model))]
    return {
        "model": model,
        "shapes": shapes,
        "total_flops": counter.get_total_flops(),
        "layer_flops": layer_flops,
    }


def encoder_nodes(graph: graphspec.Graph) -> list[str]:
    return [n.name for n in graph.topological() if n.role != "input"]


def test_reference_model_has_the_published_parameter_count(reference):
    assert sum(p.numel() for p in reference["model"].parameters()) == PUBLISHED_PARAMS


def test_graph_is_a_chain_matching_the_reference_layer_by_layer(graph, reference):
    nodes = encoder_nodes(graph)
    model = reference["model"]
    assert len(nodes) == len(model)
    kinds = {
        nn.Conv2d: "conv",
        nn.ReLU: "relu",
        nn.MaxPool2d: "maxpool",
        nn.Flatten: "flatten",
        nn.Linear: "linear",
        nn.Dropout: "dropout",
    }
    assert [graph[n].op.op for n in nodes] == [kinds[type(m)] for m in model]


def test_pool5_is_512x7x7(graph, reference):
    assert graph["pool5"].shape == (512, 7, 7)
    # ... and so is the reference's last max-pool output (the input of the classifier).
    last_pool = max(i for i, m in enumerate(reference["model"]) if isinstance(m, nn.MaxPool2d))
    assert reference["shapes"][last_pool] == (512, 7, 7)
    assert isinstance(reference["model"][last_pool + 1], nn.Flatten)


def test_every_layer_shape_matches_pytorch(graph, reference):
    nodes = encoder_nodes(graph)
    assert [graph[n].shape for n in nodes] == reference["shapes"]
    assert graph.output == "fc8"
    assert graph["fc8"].shape == (1000,)


def test_total_params_equal_published_figure_and_reference_numel(graph, reference):
    numel = sum(p.numel() for p in reference["model"].parameters())
    assert graphspec.totals(graph).params == PUBLISHED_PARAMS
    assert graphspec.totals(graph).params == numel


def test_params_per_layer_match_reference(graph, reference):
    nodes = encoder_nodes(graph)
    expected = [sum(p.numel() for p in m.parameters()) for m in reference["model"]]
    assert [graph[n].params for n in nodes] == expected


def test_total_flops_equal_flop_counter_mode(graph, reference):
    assert graphspec.totals(graph).flops == reference["total_flops"]
    # Sanity: VGG-16 is about 15.5 GMACs per 224x224 image.
    assert 30.9e9 < reference["total_flops"] < 31.0e9


def test_flops_per_layer_match_flop_counter_mode(graph, reference):
    nodes = encoder_nodes(graph)
    assert [graph[n].flops for n in nodes] == reference["layer_flops"]


def test_receptive_field_and_stride_of_pool5(graph):
    # Thirteen 3x3 convs and five 2x2/2 pools: rf = 212, cumulative stride 32
    # (independently: rf grows by (k-1)*jump at each layer).
    rf, jump = 1, 1
    for item in CFG_D:
        if item == "M":
            rf, jump = rf + jump, jump * 2
        else:
            rf += 2 * jump
    assert (rf, jump) == (212, 32)
    assert graph["pool5"].rf == (rf, rf)
    assert graph["pool5"].jump == (jump, jump)
