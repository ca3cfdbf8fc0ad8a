"""A spec's ``search:`` knobs: where each path points, and every value checked at its line."""

from __future__ import annotations

import pytest

from compiler import compile_graph
from graphspec import SpecError, load_spec, totals
from graphspec.search_space import knob_target, with_values
from graphspec.source import read_yaml

SPEC = """name: knobs
task: segmentation
input: {channels: 3, height: 32, width: 32}
classes: 4
encoder:
  - stage: block1
    layers:
      - {op: conv, out: 8, kernel: 3, padding: 1, name: conv1}
      - {op: relu}
      - {op: maxpool, kernel: 2, stride: 2}
  - stage: block2
    layers:
      - {op: conv, out: 16, kernel: 3, padding: 1}
      - {op: relu}
decoder: {upsample: unpool}
head: {type: segmentation}
search:
"""
GOOD = """  scale.width: [0.5, 1.0, 2.0]
  decoder.upsample: [unpool, transposed, bilinear]
  decoder.skips: [none, concat]
  stage.block2.repeat: {low: 1, high: 3}
  layer.conv1.out: [8, 16, 32]
"""


def test_knobs_resolve_to_the_document_and_are_accepted() -> None:
    spec = load_spec(SPEC + GOOD)
    assert set(spec.search or {}) == {
        "scale.width", "decoder.upsample", "decoder.skips", "stage.block2.repeat", "layer.conv1.out"
    }  # fmt: skip
    data, _ = read_yaml(SPEC + GOOD)
    assert knob_target("stage.block2.repeat", data) == ("encoder", 1, "repeat")
    assert knob_target("layer.conv1.out", data) == ("encoder", 0, "layers", 0, "out")
    assert knob_target("scale.width", data) == ("scale", "width")  # the section is created


def test_values_change_the_network_as_they_say() -> None:
    data, _ = read_yaml(SPEC + GOOD)
    changed = with_values(data, {"layer.conv1.out": 32, "stage.block2.repeat": 2})
    assert changed["encoder"][0]["layers"][0]["out"] == 32 and "repeat" not in data["encoder"][1]
    base = totals(compile_graph(load_spec(SPEC + GOOD))).params
    text = SPEC.replace("out: 8,", "out: 32,").replace(
        "  - stage: block2\n", "  - stage: block2\n    repeat: 2\n"
    )
    wider = totals(compile_graph(load_spec(text + GOOD))).params
    from graphspec.loader import validate_spec
    from graphspec.source import SourceMap

    assert totals(compile_graph(validate_spec(changed, SourceMap("<x>")))).params == wider != base


@pytest.mark.parametrize(
    ("knobs", "where", "message"),
    [
        (
            "  decoder.skips: [none, sideways]\n",
            (18, 25),
            "decoder.skips = 'sideways' gives an invalid spec",
        ),
        ("  stage.block2.repeat: {low: 0, high: 3}\n", (18, 30), "stage.block2.repeat = 0 gives"),
        ("  layer.conv9.out: [8]\n", (18, 3), "there is no encoder layer named 'conv9'"),
        ("  stage.nope.repeat: [2]\n", (18, 3), "there is no encoder stage named 'nope'"),
        ("  scale.height: [1]\n", (18, 18), "unknown key 'height'"),
        ("  layer.conv1: [8]\n", (18, 3), "layer knobs are layer.NAME.KEY"),
        ("  layer.conv1.out: [8, 2.5]\n", (18, 24), "layer.conv1.out = 2.5 gives an invalid spec"),
        ("  scale.width: {low: 2, high: 1}\n", (18, 16), "low 2 is above high 1"),
        ("  scale.width: {low: 0, high: 1, log: true}\n", (18, 16), "a log range starts above 0"),
        ("  scale.width: []\n", (18, 16), "too few items"),
    ],
)
def test_a_bad_knob_is_an_error_at_its_line(
    knobs: str, where: tuple[int, int], message: str
) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        load_spec(SPEC + knobs)
    issue = caught.value.issues[0]
    assert (issue.location.line, issue.location.column) == where
