"""``encoder_init: {match: order}``: torchvision and timm VGG-16 checkpoints fill
specs/vgg16.yaml and a VGG-16 whose fc6/fc7 are convolutions (specs/fcn32s-vgg16.yaml).

The checkpoints are written here with the libraries' key names and shapes (torchvision's
``features.N`` / ``classifier.N``; timm's ``features.N`` / ``pre_logits.fc1`` (a 7x7
conv) / ``pre_logits.fc2`` / ``head.fc``, as timm's vgg.py and its torchvision filter
define them), nothing downloaded. Tensor number n of a checkpoint holds the value n
everywhere (an expanded scalar: a few bytes on disk), so every layer says which tensor
reached it; fc6's weight holds 1000 + its input index instead, so the reshape to a 7x7
conv is checked position by position. Models are allocated without initialising them
and filled with -1 first, so a tensor the load did not touch still reads -1.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from compiler import GraphNet, compile_graph
from compiler.transfer import load_encoder_weights
from graphspec import load_spec
from tests import REPO

SPECS = REPO / "specs"
# torchvision's vgg16: the index in ``features`` of each conv (ReLUs and pools between).
FEATURE_INDEX = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
CONV_OUT = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
SPEC_CONVS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3"]
SPEC_CONVS += ["conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]
FC6_IN = 512 * 7 * 7


def _fc6_values() -> torch.Tensor:
    """fc6's weight row: 1000 + input index, the same for all 4096 outputs."""
    return torch.arange(FC6_IN, dtype=torch.float32) + 1000


def _features() -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    channels = 3
    for index, out in zip(FEATURE_INDEX, CONV_OUT, strict=True):
        state[f"features.{index}.weight"] = torch.zeros(()).expand(out, channels, 3, 3)
        state[f"features.{index}.bias"] = torch.zeros(()).expand(out)
        channels = out
    return state


def _numbered(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensor n (from 1, in key order) filled with n, fc6's weight with its input index."""
    numbered = {}
    for n, (key, value) in enumerate(state.items(), 1):
        numbered[key] = torch.tensor(float(n)).expand(value.shape)
    for key in ("classifier.0.weight", "pre_logits.fc1.weight"):
        if key in state:
            numbered[key] = _fc6_values().reshape(state[key].shape[1:]).expand(state[key].shape)
    return numbered


def torchvision_vgg16() -> dict[str, torch.Tensor]:
    state = _features()
    for index, shape in ((0, (4096, FC6_IN)), (3, (4096, 4096)), (6, (1000, 4096))):
        state[f"classifier.{index}.weight"] = torch.zeros(()).expand(shape)
        state[f"classifier.{index}.bias"] = torch.zeros(()).expand(shape[0])
    return _numbered(state)


def timm_vgg16() -> dict[str, torch.Tensor]:
    state = _features()
    layers = (("pre_logits.fc1", (4096, 512, 7, 7)), ("pre_logits.fc2", (4096, 4096, 1, 1)))
    for name, shape in (*layers, ("head.fc", (1000, 4096))):
        state[f"{name}.weight"] = torch.zeros(()).expand(shape)
        state[f"{name}.bias"] = torch.zeros(()).expand(shape[0])
    return _numbered(state)


def _spec(tmp_path: Path, spec: str, state: dict[str, torch.Tensor], init: str) -> Path:
    torch.save(state, tmp_path / "backbone.pth")
    path = tmp_path / spec
    text = (SPECS / spec).read_text()
    path.write_text(text + f"encoder_init: {{checkpoint: backbone.pth, match: order{init}}}\n")
    return path


def _documented(tmp_path: Path, state: dict[str, torch.Tensor]) -> Path:
    """specs/vgg16.yaml with the ``encoder_init`` line its comments tell users to add."""
    text = (SPECS / "vgg16.yaml").read_text()
    line = next(x for x in text.splitlines() if x.startswith("#   encoder_init:"))
    (tmp_path / "weights").mkdir()
    torch.save(state, tmp_path / "weights" / "vgg16-397923af.pth")
    init = line.removeprefix("#   ").replace("path/to/", "weights/")
    (tmp_path / "vgg16.yaml").write_text(text + init + "\n")
    return tmp_path / "vgg16.yaml"


def _load(path: Path) -> tuple[GraphNet, object, str]:
    """The model (every tensor -1 before the load), its report and what the load printed."""
    spec = load_spec(path)
    with torch.device("meta"):
        model = GraphNet(compile_graph(spec))
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for value in model.state_dict().values():
            value.fill_(-1)
    printed = io.StringIO()
    report = load_encoder_weights(model, spec, echo=printed)
    return model, report, printed.getvalue()


def _expected_sources(state: dict[str, torch.Tensor], fc: list[str]) -> dict[str, str]:
    """Layer -> the checkpoint module that must fill it, written out from the layouts."""
    convs = {name: f"features.{i}" for name, i in zip(SPEC_CONVS, FEATURE_INDEX, strict=True)}
    modules = list(dict.fromkeys(k.rpartition(".")[0] for k in state))[len(FEATURE_INDEX) :]
    return {**convs, **dict(zip(fc, modules, strict=False))}


def _number(state: dict[str, torch.Tensor], key: str) -> float:
    return float(list(state).index(key) + 1)


def _assert_filled(model: GraphNet, state: dict[str, torch.Tensor], sources: dict[str, str]):
    for layer, module in sources.items():
        for part in ("weight", "bias"):
            if (layer, part) == ("fc6", "weight"):
                continue  # checked position by position by the tests
            value = getattr(model, layer).get_parameter(part)
            assert torch.all(value == _number(state, f"{module}.{part}")), (layer, part)


@pytest.mark.parametrize("layout", [torchvision_vgg16, timm_vgg16], ids=["torchvision", "timm"])
def test_imagenet_vgg16_fills_the_vgg16_classifier(tmp_path, layout):
    state = layout()
    model, report, printed = _load(_documented(tmp_path, state))
    sources = _expected_sources(state, ["fc6", "fc7", "fc8"])
    assert list(sources.values())[-3:] == (
        ["classifier.0", "classifier.3", "classifier.6"]
        if layout is torchvision_vgg16
        else ["pre_logits.fc1", "pre_logits.fc2", "head.fc"]
    )
    _assert_filled(model, state, sources)
    # The linear fc6 reads the flattened 512x7x7 map: input j is 1000 + j in both layouts
    # (timm's 7x7 conv flattened channel-major).
    assert model.fc6.weight.shape == (4096, FC6_IN)
    assert torch.equal(model.fc6.weight, _fc6_values().expand(4096, FC6_IN))
    assert report.missing == [] and report.skipped == [] and report.unexpected == []
    assert len(report.mapping) == 32 == len(report.loaded)
    assert [(p.source, p.target) for p in report.mapping][:3] == [
        ("features.0.weight", "conv1_1.weight"),
        ("features.0.bias", "conv1_1.bias"),
        ("features.2.weight", "conv1_2.weight"),
    ]
    lines = printed.splitlines()
    assert lines[0].startswith("loaded 32 encoder tensors from vgg16-397923af.pth:")
    assert lines[0].endswith("by order into 16 layers:")
    assert "  features.0 (weight, bias) -> conv1_1" in lines
    assert "  features.28 (weight, bias) -> conv5_3" in lines
    if layout is timm_vgg16:
        assert "  pre_logits.fc1 (weight 4096x512x7x7 -> 4096x25088, bias) -> fc6" in lines
        assert "  pre_logits.fc2 (weight 4096x4096x1x1 -> 4096x4096, bias) -> fc7" in lines
        assert "  head.fc (weight, bias) -> fc8" in lines
    else:
        assert "  classifier.0 (weight, bias) -> fc6" in lines
        assert "  classifier.6 (weight, bias) -> fc8" in lines
    assert len(lines) == 17


@pytest.mark.parametrize(
    ("layout", "skip"),
    [(torchvision_vgg16, "classifier.6"), (timm_vgg16, "head")],
    ids=["torchvision", "timm"],
)
def test_imagenet_vgg16_fills_fcn32s_with_fc6_as_a_7x7_conv(tmp_path, layout, skip):
    state = layout()
    path = _spec(tmp_path, "fcn32s-vgg16.yaml", state, f", skip: [{skip}]")
    model, report, printed = _load(path)
    sources = _expected_sources(state, ["fc6", "fc7"])
    _assert_filled(model, state, sources)
    # fc6 is a 7x7 conv: weight[o, c, y, x] is input c*49 + y*7 + x of the linear.
    assert model.fc6.weight.shape == (4096, 512, 7, 7)
    expected = _fc6_values().view(512, 7, 7)
    assert model.fc6.weight[0, 3, 2, 5] == 1000 + 3 * 49 + 2 * 7 + 5
    assert torch.all(model.fc6.weight == expected)
    assert model.fc7.weight.shape == (4096, 4096, 1, 1)
    fc7_source = sources["fc7"] + ".weight"
    assert torch.all(model.fc7.weight == _number(state, fc7_source))
    left_out = [k for k in state if k.startswith(skip + ".")]
    assert report.skipped == left_out and len(left_out) == 2
    assert report.missing == []
    # The head and decoder were not written: still the -1 they were filled with.
    encoder = {n.name for n in model.graph if n.role == "encoder"}
    others = {k: v for k, v in model.state_dict().items() if k.split(".")[0] not in encoder}
    assert others and all(torch.all(v == -1) for v in others.values())
    if layout is torchvision_vgg16:
        assert "  classifier.0 (weight 4096x25088 -> 4096x512x7x7, bias) -> fc6" in printed
        assert "  classifier.3 (weight 4096x4096 -> 4096x4096x1x1, bias) -> fc7" in printed
    else:
        assert "  pre_logits.fc1 (weight, bias) -> fc6" in printed
    assert "skipped (2): " + ", ".join(left_out) in printed
