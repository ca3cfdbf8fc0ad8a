"""``match: order`` on small specs, and every way it refuses a checkpoint: a shape that
disagrees, tensors left over, a ``skip`` entry that covers nothing, ``strict`` misses.

The small checkpoints are test_transfer.py's trained classifier renamed to torchvision's
layout (``features.N``, ``classifier.N``), so no key names a graphspec layer and only
the order can place them. The VGG-16 ones come from test_transfer_order.py and are
checked on the ``meta`` device (:func:`check_encoder_init`), which costs no memory.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from compiler import compile_graph, compile_spec
from compiler.transfer import check_encoder_init
from graphspec import SpecError, load_spec
from tests.compiler.test_transfer import (
    MLP,
    ONE_LINEAR,
    _line_of,
    _trained_state,
    _write,
    classifier_text,
    segmentation_text,
)
from tests.compiler.test_transfer_order import SPECS, torchvision_vgg16

# The small classifier's layers under the index torchvision's nn.Sequential would give
# them (conv, bn, relu, pool, conv: the second conv is module 4).
TORCHVISION_NAMES = {
    "conv1": "features.0",
    "bn1": "features.1",
    "conv2": "features.4",
    "fc": "classifier.0",
    "fc1": "classifier.0",
    "fc2": "classifier.2",
}


def _renamed(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    def rename(key: str) -> str:
        layer, _, rest = key.partition(".")
        return f"{TORCHVISION_NAMES[layer]}.{rest}"

    return {rename(key): value for key, value in state.items()}


def _order_text(checkpoint: str, init: str = "", **kwargs: object) -> str:
    """segmentation_text's spec with ``match: order`` and ``init`` added to encoder_init."""
    text = segmentation_text(checkpoint, **kwargs)  # type: ignore[arg-type]
    assert text.endswith("}\n")  # the encoder_init line comes last
    return text[:-2] + f", match: order{init}}}\n"


@pytest.mark.parametrize("counter", [True, False], ids=["with-counter", "older-torch"])
@pytest.mark.parametrize("classifier", [ONE_LINEAR, MLP], ids=["one-linear", "mlp"])
def test_torchvision_layout_fills_an_fc_to_conv_encoder(tmp_path, capsys, classifier, counter):
    """Batch-norm running statistics land in the batch norm, the linears in the convs the
    FC -> conv pass made of them, and the encoder then computes the classifier's scores."""
    state = _trained_state(classifier)
    foreign = _renamed(state)
    if not counter:  # checkpoints saved before torch 0.4.1 have no num_batches_tracked
        del foreign["features.1.num_batches_tracked"]
    torch.save(foreign, tmp_path / "tv.pt")
    model = compile_spec(_write(tmp_path, _order_text("tv.pt", classifier=classifier)))
    assert torch.equal(model.bn1.running_mean, state["bn1.running_mean"])
    assert torch.equal(model.bn1.running_var, state["bn1.running_var"])
    assert torch.equal(model.conv2.weight, state["conv2.weight"])
    linears = [k.split(".")[0] for k in state if k.startswith("fc") and k.endswith(".weight")]
    first = getattr(model, linears[0]).weight
    assert torch.equal(first, state[f"{linears[0]}.weight"].reshape(-1, 6, 4, 4))
    report = model.encoder_init_report
    assert report.missing == [] and report.unexpected == []
    # Every tensor but the counter, which order matching leaves out on both sides.
    assert len(report.loaded) == len(state) - 1
    classifier_model = compile_spec(classifier_text(classifier)).eval()
    classifier_model.load_state_dict(state)
    seen: dict[str, torch.Tensor] = {}
    getattr(model, linears[-1]).register_forward_hook(lambda m, a, out: seen.update(out=out))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        model.eval()(x)
        expected = classifier_model(x)
    torch.testing.assert_close(seen["out"][:, :, 0, 0], expected, rtol=0, atol=1e-5)
    printed = capsys.readouterr()
    assert printed.out == ""  # stdout stays free for bench --format json
    assert "  features.1 (weight, bias, running_mean, running_var) -> bn1" in printed.err
    out = 5 if classifier is ONE_LINEAR else 7  # fc, or the MLP's fc1
    line = f"  classifier.0 (weight {out}x96 -> {out}x6x4x4, bias) -> {linears[0]}"
    assert line in printed.err.splitlines()


def test_name_matching_prints_nothing_and_check_prints_nothing(tmp_path, capsys):
    torch.save(_renamed(_trained_state()), tmp_path / "tv.pt")
    torch.save(_trained_state(), tmp_path / "own.pt")
    compile_spec(_write(tmp_path, segmentation_text("own.pt"), "name.yaml"))
    spec = load_spec(_write(tmp_path, _order_text("tv.pt", ", skip: [classifier]")))
    checked = check_encoder_init(compile_graph(spec), spec)
    assert capsys.readouterr() == ("", "")
    assert checked == compile_spec(spec).encoder_init_report
    assert [(p.source, p.target) for p in checked.mapping][:3] == [
        ("features.0.weight", "conv1.weight"),
        ("features.0.bias", "conv1.bias"),
        ("features.1.weight", "bn1.weight"),
    ]


def test_a_shape_that_disagrees_names_both_tensors_at_the_encoder_init_line(tmp_path):
    """A plain network's checkpoint for an encoder with batch norm: the third tensor is the
    second conv's weight where the encoder has bn1's weight."""
    state = {k: v for k, v in _renamed(_trained_state()).items() if ".1." not in k}
    torch.save(state, tmp_path / "plain.pt")
    text = _order_text("plain.pt")
    with pytest.raises(SpecError) as info:
        compile_spec(_write(tmp_path, text))
    err = info.value
    assert (err.key_path, err.line) == ("encoder_init.checkpoint", _line_of(text, "encoder_init"))
    assert "checkpoint tensor 3 of 6, features.4.weight (6, 4, 3, 3)" in err.message
    assert "encoder tensor bn1.weight (4,)" in err.message
    assert "before it features.0.bias -> conv1.bias" in err.message
    assert "skip" not in err.message  # features already paired: skipping them is no fix


def _vgg_spec(tmp_path: Path, spec: str, init: str) -> tuple[str, Path]:
    torch.save(torchvision_vgg16(), tmp_path / "vgg16.pth")
    text = (SPECS / spec).read_text()
    text += f"encoder_init: {{checkpoint: vgg16.pth, match: order{init}}}\n"
    return text, _write(tmp_path, text, spec)


def _check(path: Path):
    spec = load_spec(path)
    return check_encoder_init(compile_graph(spec), spec)


def test_tensors_left_over_are_refused_with_the_skip_that_leaves_them_out(tmp_path):
    text, path = _vgg_spec(tmp_path, "fcn32s-vgg16.yaml", "")
    with pytest.raises(SpecError) as info:
        _check(path)
    err = info.value
    assert (err.key_path, err.line) == ("encoder_init.checkpoint", text.count("\n"))
    assert "fills all 30 encoder tensors and leaves 2 checkpoint tensors over" in err.message
    assert "classifier.6.weight (1000, 4096), classifier.6.bias (1000,)" in err.message
    assert "add skip: [classifier.6]" in err.message


def test_ssd_fc6_disagrees_until_the_classifier_is_skipped(tmp_path):
    """SSD's fc6 is a dilated 3x3 conv of 1024 channels, not VGG's 7x7 of 4096."""
    _, path = _vgg_spec(tmp_path, "ssd300-vgg16.yaml", "")
    with pytest.raises(SpecError) as info:
        _check(path)
    message = info.value.message
    assert "checkpoint tensor 27 of 32, classifier.0.weight (4096, 25088)" in message
    assert "encoder tensor fc_0.weight (1024, 512, 3, 3)" in message
    assert "add skip: [classifier]" in message

    _, path = _vgg_spec(tmp_path, "ssd300-vgg16.yaml", ", skip: [classifier]")
    report = _check(path)
    # fc6, fc7 and the 8 convs of the extras keep their initialisation: 10 weights + biases.
    assert len(report.missing) == 20 and report.missing[:2] == ["fc_0.weight", "fc_0.bias"]
    assert len(report.loaded) == 26 and len(report.skipped) == 6

    _, path = _vgg_spec(tmp_path, "ssd300-vgg16.yaml", ", skip: [classifier], strict: true")
    with pytest.raises(SpecError) as info:
        _check(path)
    assert "leaves 20 encoder tensors without a checkpoint tensor (from fc_0.weight on" in (
        info.value.message
    )


def test_a_skip_entry_that_covers_no_key_is_an_error_at_the_entry(tmp_path):
    text, path = _vgg_spec(
        tmp_path, "fcn32s-vgg16.yaml", ", skip: [classifier.0.weight, classifer.6]"
    )
    with pytest.raises(SpecError) as info:
        _check(path)
    err = info.value
    last = text.splitlines()[-1]
    assert err.key_path == "encoder_init.skip[1]"
    assert (err.line, err.column) == (text.count("\n"), last.index("classifer.6") + 1)
    assert "skip entry 'classifer.6' covers no checkpoint key" in err.message
    assert "such as classifier.6" in err.message


def test_skip_is_a_whole_part_prefix_and_works_with_name_matching(tmp_path):
    """``aux`` covers ``aux.weight`` and ``aux.head.bias``, so ``strict`` no longer sees
    them as unexpected; it does not cover ``aux_extra.weight``."""
    state = _trained_state()
    state |= {"aux.weight": torch.ones(2), "aux.head.bias": torch.ones(1)}
    torch.save(state, tmp_path / "clf.pt")
    text = segmentation_text("clf.pt", strict=True, classifier=ONE_LINEAR)
    report = compile_spec(
        _write(tmp_path, text.replace("true}", "true, skip: [aux]}"))
    ).encoder_init_report
    assert report.skipped == ["aux.weight", "aux.head.bias"] and report.unexpected == []
    state["aux_extra.weight"] = torch.ones(1)
    torch.save(state, tmp_path / "clf.pt")
    with pytest.raises(SpecError) as info:
        compile_spec(_write(tmp_path, text.replace("true}", "true, skip: [aux]}")))
    assert "0 missing and 1 unexpected" in info.value.message


def test_a_checkpoint_skipped_whole_has_nothing_to_load(tmp_path):
    torch.save(_renamed(_trained_state()), tmp_path / "tv.pt")
    with pytest.raises(SpecError) as info:
        compile_spec(_write(tmp_path, _order_text("tv.pt", ", skip: [features, classifier]")))
    assert "no tensors to load" in info.value.message


@pytest.mark.parametrize(
    ("init", "key_path", "needle"),
    [
        ("match: bogus", "encoder_init.match", "expected 'name' or 'order'"),
        ("skip: [classifier.]", "encoder_init.skip[0]", "invalid checkpoint key 'classifier.'"),
    ],
)
def test_bad_keys_are_spec_errors_at_their_place(init, key_path, needle):
    text = classifier_text() + f"encoder_init: {{checkpoint: x.pt, {init}}}\n"
    with pytest.raises(SpecError) as info:
        load_spec(text)
    assert info.value.key_path == key_path and needle in info.value.message
    assert info.value.line == text.count("\n")
