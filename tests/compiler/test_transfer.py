"""Transfer learning: ``encoder_init`` loads a local checkpoint into the encoder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from compiler import GraphNet, compile_graph, compile_spec, transfer
from compiler.transfer import check_encoder_init, classifier_as_fcn
from graphspec import SpecError, load_spec

FEATURES = """
  - stage: features
    layers:
      - {op: conv, out: 4, kernel: 3, padding: 1, name: conv1}
      - {op: batchnorm, name: bn1}
      - {op: relu}
      - {op: maxpool, kernel: 2, name: pool1}
      - {op: conv, out: 6, kernel: 3, padding: 1, name: conv2}
      - {op: relu}
      - {op: maxpool, kernel: 2, name: pool2}
"""

ONE_LINEAR = """
  - stage: classifier
    layers:
      - {op: flatten}
      - {op: linear, out: 5, name: fc}
"""

MLP = """
  - stage: classifier
    layers:
      - {op: flatten}
      - {op: linear, out: 7, name: fc1}
      - {op: relu}
      - {op: linear, out: 5, name: fc2}
"""


def _block(text: str) -> str:
    """A YAML fragment as written above (already indented for its place), or nothing."""
    return text.strip("\n") + "\n" if text.strip() else ""


def classifier_text(classifier: str = ONE_LINEAR) -> str:
    return (
        "name: source\ntask: classification\ninput: {channels: 3, height: 16, width: 16}\n"
        "classes: 5\nencoder:\n" + _block(FEATURES) + _block(classifier)
    )


def segmentation_text(
    checkpoint: str,
    *,
    freeze: bool = True,
    strict: bool = False,
    extra: str = "",
    classifier: str = "",
) -> str:
    """The classifier's feature stack (plus ``extra`` layers and ``classifier``), a mirrored
    unpool decoder and a segmentation head."""
    return (
        "name: target\ntask: segmentation\ninput: {channels: 3, height: 16, width: 16}\n"
        "classes: 5\nencoder:\n"
        + _block(FEATURES)
        + _block(extra)
        + _block(classifier)
        + "decoder: {upsample: unpool}\n"
        + "head: {type: segmentation}\n"
        + f"encoder_init: {{checkpoint: {checkpoint}, freeze: {str(freeze).lower()}, "
        + f"strict: {str(strict).lower()}}}\n"
    )


def _trained_state(classifier: str = ONE_LINEAR) -> dict[str, torch.Tensor]:
    torch.manual_seed(123)
    model = compile_spec(classifier_text(classifier))
    with torch.no_grad():
        model.bn1.weight.uniform_(0.5, 1.5)  # "trained": not the ones/zeros of a fresh init
        model.bn1.bias.uniform_(-0.5, 0.5)
        model.bn1.running_mean.uniform_(-1, 1)
        model.bn1.running_var.uniform_(0.5, 2)
        model.bn1.num_batches_tracked.fill_(7)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _write(tmp_path: Path, text: str, name: str = "target.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


EXTRA_CONV = """
      - {op: conv, out: 6, kernel: 1, name: conv3}
      - {op: relu}
"""


def test_encoder_loads_decoder_stays_random_and_encoder_freezes(tmp_path, monkeypatch):
    state = _trained_state()
    del state["fc.weight"], state["fc.bias"]  # an encoder-only checkpoint
    state["aux_head.weight"] = torch.zeros(3)  # something the target does not have
    (tmp_path / "weights").mkdir()
    torch.save(state, tmp_path / "weights" / "encoder.pt")
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    spec = _write(spec_dir, segmentation_text("../weights/encoder.pt", extra=EXTRA_CONV))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative to the spec's folder, not the working dir

    torch.manual_seed(0)
    model = compile_spec(spec)
    report = model.encoder_init_report
    own = model.state_dict()

    loaded = [k for k in state if k != "aux_head.weight"]
    assert sorted(report.loaded) == sorted(loaded)
    for key in loaded:
        assert torch.equal(own[key], state[key]), key
    assert sorted(report.missing) == ["conv3.bias", "conv3.weight"]
    assert report.unexpected == ["aux_head.weight"]
    assert "missing from checkpoint (2)" in str(report)
    assert "aux_head.weight" in str(report)

    # Decoder and head tensors are not copied from the checkpoint: none equals a
    # checkpoint tensor of its shape (and some have the shape of one, e.g. dec_conv1.bias).
    encoder = {n.name for n in model.graph if n.role == "encoder"}
    same_shape = 0
    for key, value in own.items():
        if key.split(".")[0] in encoder or key.endswith("num_batches_tracked"):
            continue
        for ckpt_key, ckpt_value in state.items():
            if ckpt_value.shape == value.shape:
                same_shape += 1
                assert not torch.equal(value, ckpt_value), (key, ckpt_key)
    assert same_shape > 0

    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert frozen == {n for n, _ in model.named_parameters() if n.split(".")[0] in encoder}
    assert frozen >= {"conv1.weight", "bn1.weight", "conv2.bias", "conv3.weight"}
    assert {"dec_conv1.weight", "dec_conv2.weight", "head.weight"} <= trainable
    assert report.frozen == len(frozen)

    # Training touches only the decoder and head.
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randn(2, 3, 16, 16)).square().mean().backward()
    assert model.conv1.weight.grad is None
    opt.step()
    assert torch.equal(model.conv1.weight, state["conv1.weight"])


def test_freeze_false_leaves_everything_trainable(tmp_path):
    torch.save(_trained_state(), tmp_path / "clf.pt")
    spec = _write(tmp_path, segmentation_text("clf.pt", freeze=False, classifier=ONE_LINEAR))
    model = compile_spec(spec)
    assert all(p.requires_grad for p in model.parameters())
    assert model.encoder_init_report.frozen == 0


def test_load_weights_false_skips_the_checkpoint(tmp_path):
    spec = _write(tmp_path, segmentation_text("does-not-exist.pt"))
    model = compile_spec(spec, load_weights=False)
    assert not hasattr(model, "encoder_init_report")


def test_checkpoint_nested_under_state_dict_loads(tmp_path):
    state = _trained_state()
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "nested.pt")
    spec = _write(tmp_path, segmentation_text("nested.pt", classifier=ONE_LINEAR))
    model = compile_spec(spec)
    assert torch.equal(model.conv2.weight, state["conv2.weight"])


def test_wrong_shape_raises_spec_error_naming_the_key(tmp_path):
    state = _trained_state()
    state["conv2.weight"] = torch.zeros(6, 4, 5, 5)
    torch.save(state, tmp_path / "bad.pt")
    text = segmentation_text("bad.pt", classifier=ONE_LINEAR)
    spec = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        compile_spec(spec)
    err = info.value
    assert "conv2.weight" in err.message
    assert "(6, 4, 3, 3)" in err.message and "(6, 4, 5, 5)" in err.message
    assert err.key_path == "encoder_init.checkpoint"
    assert err.line == _line_of(text, "encoder_init:")


def test_missing_checkpoint_points_at_the_checkpoint_line(tmp_path):
    text = segmentation_text("nowhere/missing.pt")
    spec = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        compile_spec(spec)
    err = info.value
    assert err.file == str(spec)
    assert err.key_path == "encoder_init.checkpoint"
    assert err.line == _line_of(text, "encoder_init:")
    assert err.column == text.splitlines()[err.line - 1].index("nowhere") + 1
    assert "not found" in err.message
    assert str(tmp_path / "nowhere" / "missing.pt") in err.message


def test_strict_refuses_missing_keys(tmp_path):
    state = _trained_state()
    torch.save(state, tmp_path / "clf.pt")
    text = segmentation_text("clf.pt", strict=True, extra=EXTRA_CONV, classifier=ONE_LINEAR)
    with pytest.raises(SpecError) as info:
        compile_spec(_write(tmp_path, text))
    assert info.value.key_path == "encoder_init.checkpoint"
    assert "2 missing" in info.value.message


def test_a_file_that_is_not_a_checkpoint_raises_spec_error(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SpecError) as info:
        compile_spec(_write(tmp_path, segmentation_text("junk.pt")))
    assert info.value.key_path == "encoder_init.checkpoint"


@pytest.mark.parametrize(
    "classifier",
    [
        pytest.param(ONE_LINEAR, id="one-linear"),
        pytest.param(MLP, id="mlp"),
    ],
)
def test_classifier_checkpoint_loads_into_fc_to_conv_segmentation(tmp_path, classifier):
    """Linear weights [out, C*h*w] arrive as conv weights [out, C, h, w]: the 16x16 input
    pools to 6 x 4 x 4, so the first linear becomes a 4x4 conv."""
    state = _trained_state(classifier)
    torch.save(state, tmp_path / "clf.pt")
    spec = _write(tmp_path, segmentation_text("clf.pt", classifier=classifier))
    model = compile_spec(spec)
    report = model.encoder_init_report
    assert report.missing == [] and report.unexpected == []
    linears = [k.split(".")[0] for k in state if k.startswith("fc") and k.endswith(".weight")]
    first = linears[0]
    conv = getattr(model, first)
    assert isinstance(conv, nn.Conv2d)
    assert conv.weight.shape == (state[f"{first}.weight"].shape[0], 6, 4, 4)
    assert torch.equal(conv.weight, state[f"{first}.weight"].reshape(-1, 6, 4, 4))
    for name in linears[1:]:
        out_f, in_f = state[f"{name}.weight"].shape
        assert torch.equal(
            getattr(model, name).weight, state[f"{name}.weight"].view(out_f, in_f, 1, 1)
        )
    for name in linears:
        assert torch.equal(getattr(model, name).bias, state[f"{name}.bias"])
    # The converted encoder computes the classifier's scores at its last encoder node.
    classifier_model = compile_spec(classifier_text(classifier)).eval()
    classifier_model.load_state_dict(state)
    seen: dict[str, torch.Tensor] = {}
    getattr(model, linears[-1]).register_forward_hook(lambda m, a, out: seen.update(out=out))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        model.eval()(x)
        expected = classifier_model(x)
    torch.testing.assert_close(seen["out"][:, :, 0, 0], expected, rtol=0, atol=1e-5)


def test_a_checkpoint_matching_no_encoder_key_is_an_error_not_a_scratch_run(tmp_path):
    torch.save({"backbone.conv.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "other.pt")
    text = segmentation_text("other.pt")
    with pytest.raises(SpecError) as info:
        compile_spec(_write(tmp_path, text))
    err = info.value
    assert err.key_path == "encoder_init.checkpoint"
    assert err.line == _line_of(text, "encoder_init:")
    # conv1 (weight, bias) + bn1 (weight, bias, running mean and var, count) + conv2: 9.
    assert "matches none of the encoder's 9 tensors" in err.message
    assert "conv1.weight" in err.message and "backbone.conv.weight" in err.message


def test_a_plain_state_dict_such_as_best_pt_loads_and_is_named_by_its_digest(tmp_path):
    """What a run saves, ``torch.save(model.state_dict())``, straight from the module."""
    torch.manual_seed(5)
    classifier = compile_spec(classifier_text())
    torch.save(classifier.state_dict(), tmp_path / "best.pt")
    model = compile_spec(_write(tmp_path, segmentation_text("best.pt")))
    assert torch.equal(model.conv1.weight, classifier.conv1.weight)
    report = model.encoder_init_report
    digest = hashlib.sha256((tmp_path / "best.pt").read_bytes()).hexdigest()
    assert report.tag == f"best.pt:{digest[:12]}"
    assert report.checkpoint == str(tmp_path / "best.pt") and report.sha256 == digest


def test_a_legacy_format_checkpoint_still_loads(tmp_path):
    state = _trained_state()
    torch.save(state, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    model = compile_spec(_write(tmp_path, segmentation_text("old.pt")))
    assert torch.equal(model.bn1.running_var, state["bn1.running_var"])


def test_check_agrees_with_load_and_builds_only_a_meta_model(tmp_path, monkeypatch):
    state = _trained_state()
    torch.save(state, tmp_path / "clf.pt")
    spec = load_spec(_write(tmp_path, segmentation_text("clf.pt", extra=EXTRA_CONV)))
    built: list[GraphNet] = []

    class Spy(GraphNet):
        def __init__(self, graph):
            super().__init__(graph)
            built.append(self)

    monkeypatch.setattr(transfer, "build_network", Spy)
    checked = check_encoder_init(compile_graph(spec), spec)
    monkeypatch.undo()
    assert len(built) == 1
    assert {p.device.type for p in built[0].parameters()} == {"meta"}
    loaded = compile_spec(spec).encoder_init_report
    assert checked == loaded
    assert sorted(checked.missing) == ["conv3.bias", "conv3.weight"]
    assert checked.frozen == 8  # conv1, bn1, conv2, conv3: weight + bias each (conv3 random)
    assert checked.frozen == sum(not p.requires_grad for p in compile_spec(spec).parameters())


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (segmentation_text("missing.pt"), "not found"),
        (segmentation_text("clf.pt", strict=True, extra=EXTRA_CONV), "2 missing"),
    ],
    ids=["missing", "strict"],
)
def test_check_raises_what_load_raises(tmp_path, text, needle):
    torch.save(_trained_state(), tmp_path / "clf.pt")
    spec = load_spec(_write(tmp_path, text))
    with pytest.raises(SpecError) as info:
        check_encoder_init(compile_graph(spec), spec)
    assert info.value.key_path == "encoder_init.checkpoint" and needle in info.value.message


def test_classifier_as_fcn_slides_the_classifier_over_a_larger_input():
    """16x16 training input pools to 6x4x4, so ``fc`` becomes a 4x4 conv: a 24x40 input
    pools to 6x6x10 and gives (6-4+1) x (10-4+1) = 3x7 scores; at 16x16 it is the
    classifier itself."""
    state = _trained_state()
    classifier = compile_spec(classifier_text()).eval()
    classifier.load_state_dict(state)
    fcn = classifier_as_fcn(compile_graph(load_spec(classifier_text())), state)
    assert not fcn.training
    with torch.no_grad():
        assert fcn(torch.randn(1, 3, 24, 40)).shape == (1, 5, 3, 7)
        x = torch.randn(2, 3, 16, 16)
        torch.testing.assert_close(fcn(x)[:, :, 0, 0], classifier(x), rtol=0, atol=1e-5)
