"""The hand-written baselines compute exactly what the compiled networks compute, and the
comparison tool runs, measures peaks exactly and judges ratios against their targets.

No test asserts on a timing: the tool's ``--quick`` run is checked for its lines only.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.tools.handwritten import HANDWRITTEN, load_compiled
from benchmarks.tools.interleaved import Ratio, interleaved_ratios, peak_bytes
from benchmarks.tools.vs_handwritten import generated_module, main, parse_args
from compiler import compile_spec
from tests import SPECS

SPEC_NAMES = sorted(HANDWRITTEN)


def _pair(name: str) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    compiled = compile_spec(SPECS / f"{name}.yaml")
    return compiled, load_compiled(HANDWRITTEN[name](), compiled.state_dict())


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(3, 3, 64, 64, generator=gen)
    return images, torch.randint(0, 4, (3, 64, 64), generator=gen)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_hand_written_twin_matches_outputs_gradients_and_statistics(name: str) -> None:
    compiled, hand = _pair(name)
    images, labels = _batch()
    outputs = []
    for model in (compiled, hand):
        model.train()
        out = model(images)
        F.cross_entropy(out, labels).backward()
        outputs.append(out.detach())
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    to_node = HANDWRITTEN[name].COMPILED_NAMES  # type: ignore[attr-defined]
    ours = dict(compiled.named_parameters())
    compared = 0
    for key, param in hand.named_parameters():
        path, _, leaf = key.rpartition(".")
        twin = ours[f"{to_node[path]}.{leaf}"]
        assert param.grad is not None and twin.grad is not None, key
        torch.testing.assert_close(param.grad, twin.grad, rtol=0, atol=0, msg=key)
        compared += 1
    assert compared == len(ours)  # every compiled parameter has its twin
    # The training pass moved the batch-norm statistics alike: eval agrees too.
    compiled.eval()
    hand.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(images), hand(images), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["unet-small", "fcn-small"])
def test_generated_forward_holds_what_graphnet_holds(name: str) -> None:
    """Each value is dropped after its last reader in both: the generated forward's
    locals (``x`` reused, ``del`` for skips) never outlive GraphNet's env entries, so
    an inference pass peaks at the same bytes."""
    torch.manual_seed(0)
    net = compile_spec(SPECS / f"{name}.yaml").eval()
    generated = generated_module(net).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        peaks = [peak_bytes(lambda m=m: m(x)) for m in (net, generated)]
        assert torch.equal(net(x), generated(x))
    assert peaks[0] == peaks[1] > 0


def test_load_compiled_refuses_a_layer_it_has_no_twin_for() -> None:
    compiled, hand = _pair("fcn-small")
    state = dict(compiled.state_dict())
    state["extra_conv.weight"] = torch.zeros(1)
    with pytest.raises(KeyError, match="extra_conv"):
        load_compiled(hand, state)
    del state["extra_conv.weight"], state["fc7.weight"]
    with pytest.raises(RuntimeError, match="fc7.weight"):  # strict: nothing left at init
        load_compiled(hand, state)


def test_peak_bytes_is_the_most_held_at_once() -> None:
    def step() -> None:
        a = torch.ones(1000, 1000)  # 4 MB
        b = torch.ones(500, 1000)  # +2 MB: 6 MB held
        del a
        c = torch.ones(250, 1000)  # 3 MB held
        del b, c

    assert peak_bytes(step) == 6_000_000
    assert peak_bytes(lambda: None) == 0


def test_interleaved_ratios_give_one_sample_per_repeat() -> None:
    calls = {"a": 0, "b": 0}

    def counted(key: str):
        def run() -> None:
            calls[key] += 1
            sum(range(2000))

        return run

    ratios = interleaved_ratios(counted("a"), counted("b"), repeats=3, min_seconds=0.0)
    assert len(ratios) == 3 and all(r > 0 for r in ratios)
    # warm-up 2, calibration 1 (b), then per sample 1 untimed and 2 timed windows each
    assert calls == {"a": 2 + 3 * 3, "b": 2 + 1 + 3 * 3}


def test_a_ratio_misses_its_target_only_beyond_the_noise() -> None:
    slower = Ratio("slower", (1.10, 1.12, 1.11, 1.13), high=1.0)
    assert slower.median == pytest.approx(1.115)
    assert slower.noise == pytest.approx(0.0075)
    assert slower.verdict(floor=0.02) == "ABOVE"
    assert slower.verdict(floor=0.2) == "ok"  # the A/A floor says 11% is noise here
    level = Ratio("level", (0.99, 1.01, 1.0), high=1.0)
    assert level.verdict(floor=0.0) == "ok"
    two_sided = Ratio("generated", (0.90, 0.91), high=1.0, low=1.0)
    assert two_sided.verdict(floor=0.02) == "BELOW"
    assert (slower.target(), two_sided.target()) == ("<= 1.00", "~ 1.00")


@pytest.mark.slow
def test_quick_run_prints_every_ratio_line(capsys) -> None:
    assert main(["--quick", "--specs", "fcn-small"]) == 0
    out = capsys.readouterr().out
    number = r"\s+(\d+\.\d{3})\s+(\d+\.\d{3})\s+"
    labels = [
        "A/A fcn-small train b16 / itself",
        "A/A fcn-small infer b16 / itself",
        *(
            f"fcn-small {case} / {other}"
            for other in ("hand", "generated")
            for case in ("train b16", "infer b1", "infer b16")
        ),
        "fcn-small train-memory / hand",
        "unpool nchw / F.max_unpool2d",
        "unpool channels_last / F.max_unpool2d",
    ]
    for label in labels:
        assert re.search(re.escape(label) + number, out), label
    assert re.search(r"A/A noise floor \d+\.\d{3}; \d+ of 9 lines miss their target", out)


def test_arguments() -> None:
    args = parse_args(["--quick", "--repeats", "9"])
    assert (args.repeats, args.specs) == (2, list(HANDWRITTEN))
    assert parse_args([]).repeats == 15
    with pytest.raises(SystemExit):
        parse_args(["--specs", "vgg16"])
    with pytest.raises(SystemExit):
        parse_args(["--repeats", "0"])
