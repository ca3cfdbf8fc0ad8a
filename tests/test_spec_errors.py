"""Malformed specs: every problem is a SpecError pointing at the right line, column and key.

Each spec is written out in full so its lines and columns can be counted by eye; the
comment above a case names the character the error must point at. In the layer lists,
``      - {op: ...}`` puts the ``{`` of a layer at column 9.
"""

from __future__ import annotations

import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from torch import nn

import graphspec
from graphspec import SpecError

FORMAT = re.compile(r"^[^:]+:\d+:\d+: \S+: .+\(expected .+, got .+\)$")


def spec_error(source: str | os.PathLike[str]) -> SpecError:
    """Load and build ``source``; return the SpecError it must raise."""
    with pytest.raises(SpecError) as info:
        graphspec.build_graph(graphspec.load_spec(source))
    return info.value


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    line: int
    column: int
    key_path: str
    phrase: str
    formatted: bool  # the message reads "... (expected ..., got ...)"

    def __str__(self) -> str:
        return self.id


def case(id: str, where: str, phrase: str, text: str, formatted: bool = True) -> Case:
    """``where`` reads like the start of the error: ``"line:column key.path"``."""
    position, key_path = where.split(" ")
    line, column = map(int, position.split(":"))
    return Case(id, textwrap.dedent(text), line, column, key_path, phrase, formatted)


CASES = [
    # `"abc"` on line 7 starts at column 25.
    case(
        "bad_type_out",
        "7:25 encoder[0].layers[0].out",
        "expected an integer >= 1 or 'classes', got 'abc'",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: "abc", kernel: 3}
        """,
    ),
    # `convv` on line 7 starts at column 14.
    case(
        "unknown_op",
        "7:14 encoder[0].layers[0].op",
        "unknown op 'convv' (did you mean 'conv'?",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: convv, out: 8, kernel: 3}
        """,
        formatted=False,
    ),
    # The key `kernle` on line 7 starts at column 28.
    case(
        "unknown_key",
        "7:28 encoder[0].layers[0].kernle",
        "unknown key 'kernle' (did you mean 'kernel'?",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernle: 3}
        """,
        formatted=False,
    ),
    # A top-level key: `chanels` on line 2 starts at column 9.
    case(
        "unknown_key_input",
        "2:9 input.chanels",
        "did you mean 'channels'?",
        """\
        name: t
        input: {chanels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: relu}
        """,
        formatted=False,
    ),
    # `-3` on line 7 starts at column 36.
    case(
        "negative_kernel",
        "7:36 encoder[0].layers[0].kernel",
        "expected an integer >= 1 or a pair [h, w]",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: -3}
        """,
    ),
    # `[3, -1]` on line 7 starts at column 36.
    case(
        "negative_kernel_in_pair",
        "7:36 encoder[0].layers[0].kernel",
        "got [3, -1]",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: [3, -1]}
        """,
    ),
    # `0` (the stride) on line 7 is at column 47.
    case(
        "zero_stride",
        "7:47 encoder[0].layers[0].stride",
        "got 0)",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, stride: 0}
        """,
    ),
    # 8x8 -> conv3 -> 6x6 -> pool2 -> 3x3 -> conv5 cannot run: the third layer (line 9).
    case(
        "size_collapses",
        "9:9 encoder[0].layers[2]",
        "shrinks the feature map below 1 pixel",
        """\
        name: t
        input: {channels: 3, height: 8, width: 8}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3}
              - {op: maxpool, kernel: 2}
              - {op: conv, out: 8, kernel: 5}
              - {op: relu}
        """,
    ),
    # A pooling stage collapses in the second stage (line 12): 4x4 -> 2x2 -> 1x1 -> 0x0.
    case(
        "size_collapses_in_second_stage",
        "12:9 encoder[1].layers[1]",
        "got 0x0 from a 1x1 input",
        """\
        name: t
        input: {channels: 3, height: 4, width: 4}
        classes: 10
        encoder:
          - stage: a
            layers:
              - {op: maxpool, kernel: 2}
              - {op: maxpool, kernel: 2}
          - stage: b
            layers:
              - {op: relu}
              - {op: maxpool, kernel: 2}
        """,
    ),
    # `b` (the value of `from`) on line 8 is at column 25.
    case(
        "dangling_from",
        "8:25 encoder[0].layers[1].from",
        "unknown layer name 'b'",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 3, kernel: 3, name: a}
              - {op: add, from: b}
        """,
        formatted=False,
    ),
    # A near miss gets a suggestion: `skp` on line 8, column 25.
    case(
        "dangling_from_did_you_mean",
        "8:25 encoder[0].layers[1].from",
        "did you mean 'skip'?",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 3, kernel: 3, name: skip}
              - {op: add, from: skp}
        """,
        formatted=False,
    ),
    # The second `a` (line 8) is at column 45.
    case(
        "duplicate_layer_name",
        "8:45 encoder[0].layers[1].name",
        "duplicate name 'a'",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, name: a}
              - {op: conv, out: 8, kernel: 3, name: a}
        """,
        formatted=False,
    ),
    # 3*64*9 + 64 = 1792 parameters; `1000` on line 5 starts at column 15.
    case(
        "budget_max_params",
        "5:15 budget.max_params",
        "1,792 parameters",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        budget:
          max_params: 1000
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 64, kernel: 3}
        """,
    ),
    # 2 * 1728 * 30 * 30 = 3,110,400 FLOPs = 0.0031104 GFLOPs; `0.001` on line 5, column 15.
    case(
        "budget_max_gflops",
        "5:15 budget.max_gflops",
        "got 0.0031104)",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        budget:
          max_gflops: 0.001
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 64, kernel: 3}
        """,
    ),
    # The flow mapping opened on line 2 is never closed; the parser notices at the `:`
    # after `classes` (line 3, column 8).
    case(
        "unclosed_bracket",
        "3:8 <root>",
        "YAML syntax error",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32
        classes: 10
        """,
        formatted=False,
    ),
    # An unclosed flow sequence runs into the end of the file (line 5, column 1).
    case(
        "unclosed_sequence",
        "5:1 <root>",
        "expected ',' or ']'",
        """\
        name: t
        input:
          channels: 3
        encoder: [a, b
        """,
        formatted=False,
    ),
    # The tab starts line 3.
    case(
        "tab_indentation",
        "3:1 <root>",
        "tab character in indentation",
        "name: t\ninput:\n\tchannels: 3\n",
    ),
    case("empty_file", "1:1 <root>", "empty spec", ""),
    case("only_a_comment", "1:1 <root>", "got an empty document", "# nothing here\n"),
    # The tag on line 1 starts at column 7.
    case(
        "python_object_tag",
        "1:7 name",
        "unsupported YAML tag '!!python/object/apply:os.system'",
        "name: !!python/object/apply:os.system ['true']\n",
        formatted=False,
    ),
    case(
        "top_level_list",
        "1:1 <root>",
        "a spec must be a mapping",
        """\
        - name: t
        - classes: 10
        """,
    ),
    # A missing key is reported at the mapping that lacks it: the document root.
    case(
        "missing_input",
        "1:1 <root>",
        "missing required key 'input'",
        """\
        name: t
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: relu}
        """,
        formatted=False,
    ),
    # ... or the layer that lacks it (line 7, column 9).
    case(
        "missing_kernel",
        "7:9 encoder[0].layers[0]",
        "missing required key 'kernel'",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8}
        """,
        formatted=False,
    ),
    # The linear on line 8 gets an 8x30x30 map.
    case(
        "linear_without_flatten",
        "8:9 encoder[0].layers[1]",
        "add `op: flatten` before it",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3}
              - {op: linear, out: 10}
        """,
        formatted=False,  # "(expected a vector, got ...)" is followed by more text
    ),
    # 32 -> conv3/2 -> 15, so the flatten gives 8*15*15 = 1800 features, not 2048 (line 9).
    case(
        "linear_in_mismatch",
        "9:9 encoder[0].layers[2]",
        "expected in: 2048, got 1800 features",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, stride: 2}
              - {op: flatten}
              - {op: linear, in: 2048, out: 10}
        """,
    ),
    # `a` reads `c`, which (through b) reads `a`: reported at the layer whose `from`
    # points forward (line 7).
    case(
        "cycle_via_from",
        "7:9 encoder[0].layers[0]",
        "cycle in the graph: a -> b -> c -> a",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 3, kernel: 1, name: a, from: c}
              - {op: conv, out: 3, kernel: 1, name: b}
              - {op: conv, out: 3, kernel: 1, name: c}
        """,
    ),
    # The second `name` key starts line 4.
    case(
        "duplicate_yaml_key",
        "4:1 name",
        "duplicate key 'name'",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        name: u
        """,
    ),
    # In a flow mapping: the second `out` on line 7 starts at column 39.
    case(
        "duplicate_yaml_key_in_layer",
        "7:39 encoder[0].layers[0].out",
        "duplicate key 'out'",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, out: 16}
        """,
    ),
    # groups=2 does not divide 3 input channels.
    case(
        "conv_groups_do_not_divide_channels",
        "7:9 encoder[0].layers[0]",
        "groups=2 must divide both input channels and out",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, groups: 2}
        """,
    ),
    # PyTorch refuses a pool padding above kernel // 2 (here 2 > 3 // 2).
    case(
        "maxpool_padding_over_half_kernel",
        "7:9 encoder[0].layers[0]",
        "padding must be at most half the kernel",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: maxpool, kernel: 3, padding: 2}
        """,
    ),
    case(
        "avgpool_padding_over_half_kernel",
        "8:9 encoder[0].layers[1]",
        "avgpool padding must be at most half the kernel",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: relu}
              - {op: avgpool, kernel: 2, padding: 2}
        """,
    ),
    # The second document starts at the `---` on line 3.
    case(
        "two_documents",
        "3:1 <root>",
        "more than one YAML document",
        """\
        name: t
        classes: 10
        ---
        name: u
        """,
    ),
    # The layer on line 7 has no `op`.
    case(
        "missing_op",
        "7:9 encoder[0].layers[0]",
        "missing required key 'op'",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {out: 8, kernel: 3}
        """,
        formatted=False,
    ),
    # `'3 x 3'` on line 1 starts at column 7.
    case(
        "spec_name_with_spaces",
        "1:7 name",
        "got '3 x 3')",
        """\
        name: '3 x 3'
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: relu}
        """,
    ),
    # `detect` on line 2 starts at column 7.
    case(
        "unknown_task",
        "2:7 task",
        "got 'detect'",
        """\
        name: t
        task: detect
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: relu}
        """,
    ),
    # `[]` on line 6 starts at column 13.
    case(
        "empty_layer_list",
        "6:13 encoder[0].layers",
        "too few items (expected at least 1",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers: []
        """,
    ),
    # `2.5` on line 3 starts at column 10.
    case(
        "float_classes",
        "3:10 classes",
        "wrong type (expected an integer, got 2.5)",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 2.5
        encoder:
          - stage: s
            layers:
              - {op: relu}
        """,
    ),
    # `true` on line 7 starts at column 36: booleans are not sizes.
    case(
        "boolean_kernel",
        "7:36 encoder[0].layers[0].kernel",
        "got True",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: true}
        """,
    ),
    # A conv after a flatten (line 8) has no feature map to work on.
    case(
        "conv_after_flatten",
        "8:9 encoder[0].layers[1]",
        "conv needs a feature map",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: flatten}
              - {op: conv, out: 8, kernel: 3}
        """,
        formatted=False,
    ),
    # add (line 9) joins an 8x28x28 map with an 8x30x30 one.
    case(
        "add_of_different_shapes",
        "9:9 encoder[0].layers[2]",
        "got 8x28x28, 8x30x30",
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, name: a}
              - {op: conv, out: 8, kernel: 3}
              - {op: add, from: a}
        """,
    ),
    # The merge key `<<` on line 8 starts at column 10.
    case(
        "merge_key",
        "8:10 encoder[0].layers[0]",
        "merge keys (<<) are not supported",
        """\
        base: &b {op: relu}
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {<<: *b}
        """,
    ),
    # An integer key (line 2).
    case(
        "integer_key",
        "2:1 <root>",
        "invalid key (expected a string key, got ",
        """\
        name: t
        3: x
        """,
    ),
]


@pytest.mark.parametrize("c", CASES, ids=str)
def test_error_location_and_message(c: Case):
    err = spec_error(c.text)
    assert (err.file, err.line, err.column) == ("<string>", c.line, c.column)
    assert err.key_path == c.key_path
    assert c.phrase in err.message
    # The first line of str(err) names the same place.
    assert str(err).splitlines()[0].startswith(f"<string>:{c.line}:{c.column}: {c.key_path}: ")


@pytest.mark.parametrize("c", [c for c in CASES if c.formatted], ids=str)
def test_error_text_reads_expected_got(c: Case):
    err = spec_error(c.text)
    lines = str(err).splitlines()
    assert len(lines) == len(err.issues)
    for line in lines:
        assert FORMAT.match(line), line


def test_case_ids_are_distinct_and_enough():
    assert len({c.id for c in CASES}) == len(CASES) >= 20


def test_python_tags_run_nothing(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    calls: list[object] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a) or 0)
    attacks = [
        f"!!python/object/apply:os.system ['touch {marker}']\n",
        f"name: !!python/object/apply:os.system ['touch {marker}']\n",
        f"name: t\nclasses: !!python/object/apply:os.system ['touch {marker}']\n",
        "name: !!python/name:os.system ''\n",
        "name: !!python/object:pathlib.Path {}\n",
    ]
    for text in attacks:
        err = spec_error(text)
        assert "unsupported YAML tag '!!python/" in err.message
    assert calls == []
    assert not marker.exists()


def test_several_schema_errors_are_all_reported():
    text = textwrap.dedent(
        """\
        name: t
        task: detect
        input: {channels: 3, height: abc, width: 32}
        classes: -1
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 0}
              - {op: maxpool, kernel: 2, stride: [2, 2, 2]}
        """
    )
    err = spec_error(text)
    found = {(i.location.line, i.location.column, str(i).split(": ")[1]) for i in err.issues}
    assert found == {
        (2, 7, "task"),
        (3, 30, "input.height"),
        (4, 10, "classes"),
        (8, 36, "encoder[0].layers[0].kernel"),
        (9, 42, "encoder[0].layers[1].stride"),
    }
    assert len(err.issues) == 5
    assert (err.line, err.column, err.message) == (
        err.issues[0].location.line,
        err.issues[0].location.column,
        err.issues[0].message,
    )
    lines = str(err).splitlines()
    assert len(lines) == 5
    for line in lines:
        assert FORMAT.match(line), line


def test_several_graph_errors_are_all_reported():
    text = textwrap.dedent(
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 8, kernel: 3, name: a}
              - {op: conv, out: 8, kernel: 3, name: a}
              - {op: add, from: nowhere}
        """
    )
    err = spec_error(text)
    assert [(i.location.line, i.location.column) for i in err.issues] == [(8, 45), (9, 25)]
    assert "duplicate name 'a'" in err.issues[0].message
    assert "unknown layer name 'nowhere'" in err.issues[1].message


CONV_WITH_BUDGET = textwrap.dedent(
    """\
    name: t
    input: {channels: 3, height: 32, width: 32}
    classes: 10
    budget: {BUDGET}
    encoder:
      - stage: s
        layers:
          - {op: conv, out: 64, kernel: 3}
    """
)


def _conv_spec(budget: str) -> str:
    return CONV_WITH_BUDGET.replace("BUDGET", budget)


def test_budget_reports_both_limits_and_its_boundary_is_inclusive():
    params = sum(p.numel() for p in nn.Conv2d(3, 64, 3).parameters())  # 1792
    flops = 2 * 64 * 3 * 9 * 30 * 30  # 2 x MACs of a 3x3 conv on a 32x32 map
    err = spec_error(_conv_spec(f"max_params: {params - 1}, max_gflops: 0.001"))
    assert [i.location.key_path for i in err.issues] == [
        ("budget", "max_params"),
        ("budget", "max_gflops"),
    ]
    assert [(i.location.line, i.location.column) for i in err.issues] == [(4, 22), (4, 40)]
    assert f"{params:,} parameters" in err.issues[0].message
    exact = f"max_params: {params}, max_gflops: {flops / 1e9!r}"
    graph = graphspec.build_graph(graphspec.load_spec(_conv_spec(exact)))
    assert graphspec.totals(graph) == {"params": params, "flops": flops}


def test_budget_can_be_skipped():
    spec = graphspec.load_spec(_conv_spec("max_params: 10"))
    graph = graphspec.build_graph(spec, check_budget=False)
    assert graphspec.totals(graph)["params"] == 1792


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    for source in (path, str(path)):
        err = spec_error(source)
        assert (err.file, err.line, err.column) == (str(path), 1, 1)
        assert "not UTF-8" in err.message
        assert "got byte 0xe9 at offset 9" in err.message
        assert FORMAT.match(str(err))


def test_utf8_with_bom_is_fine(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(
        b"\xef\xbb\xbf" + (Path(__file__).parents[1] / "specs/vgg16.yaml").read_bytes()
    )
    assert graphspec.load_spec(path).name == "vgg16"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    for source in (path, str(path)):
        err = spec_error(source)
        assert (err.file, err.line, err.column, err.key_path) == (str(path), 1, 1, "<root>")
        assert "file not found" in err.message
        assert FORMAT.match(str(err))


def test_directory_path(tmp_path):
    err = spec_error(tmp_path)
    assert err.file == str(tmp_path)
    assert "is a directory" in err.message


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\ninput: {channels: 3, height: 32, width: 32}\nclasses: zero\n")
    err = spec_error(path)
    assert str(err).startswith(f"{path}:3:10: classes: wrong type (expected an integer, ")
    # file= overrides the name used in messages.
    with pytest.raises(SpecError) as info:
        graphspec.load_spec(path, file="spec.yaml")
    assert info.value.file == "spec.yaml"


def test_issue_to_dict_round_trips_location():
    err = spec_error(CASES[0].text)
    assert err.issues[0].to_dict() == {
        "file": "<string>",
        "line": 7,
        "column": 25,
        "key_path": "encoder[0].layers[0].out",
        "message": err.message,
    }


# --- Regressions: bugs this suite found in graphspec/, since fixed ------------------------

_HEADER = "name: t\ninput: {channels: 3, height: 32, width: 32}\nclasses: 10\n"
_LAYERS = "encoder:\n  - stage: s\n    layers:\n      - {op: conv, out: 8, kernel: 3}\n"


def test_bad_explicit_bool_is_a_spec_error():
    # Was a KeyError from PyYAML's SafeConstructor.
    err = spec_error("name: !!bool maybe\n")
    assert (err.line, err.column, err.key_path) == (1, 7, "name")
    assert "got 'maybe'" in err.message


@pytest.mark.parametrize("tag", ["!!int", "!!float"])
def test_empty_explicit_number_is_a_spec_error(tag):
    # Was an IndexError from PyYAML's SafeConstructor.
    err = spec_error(f"name: t\nclasses: {tag} ''\n")
    assert (err.line, err.column, err.key_path) == (2, 10, "classes")
    assert tag in err.message


@pytest.mark.parametrize(
    "key", ["!foo bar", "!!python/name:os.system x", "!!bool maybe", "!!int layers"]
)
def test_tagged_key_is_a_spec_error(key):
    # Was a ConstructorError, KeyError or ValueError: keys were constructed unguarded.
    err = spec_error(f"name: t\n{key}: 1\n")
    assert (err.line, err.column, err.key_path) == (2, 1, "<root>")
    assert "invalid key (expected a string key" in err.message


def test_huge_out_is_a_spec_error():
    # Was an OverflowError in the width scaling (int * float).
    err = spec_error(_HEADER + _LAYERS.replace("out: 8", "out: " + "9" * 400))
    assert (err.line, err.column, err.key_path) == (7, 25, "encoder[0].layers[0].out")


def test_huge_flops_with_budget_is_a_spec_error():
    # Was an OverflowError in the budget check (flops / 1e9) for a 10**200-pixel map.
    huge_padding = "kernel: 1, padding: 1" + "0" * 200
    err = spec_error(
        _HEADER + "budget: {max_gflops: 1.0}\n" + _LAYERS.replace("kernel: 3", huge_padding)
    )
    assert err.key_path in {"encoder[0].layers[0].padding", "budget.max_gflops"}


def test_infinite_width_is_a_spec_error():
    # Was an OverflowError: round(inf) while scaling `out`.
    err = spec_error(_HEADER + "scale: {width: .inf}\n" + _LAYERS)
    assert (err.line, err.column, err.key_path) == (4, 16, "scale.width")


def test_path_with_nul_byte_is_a_spec_error():
    # Was a ValueError from Path.read_bytes.
    err = spec_error("specs/a\x00b.yaml")
    assert (err.line, err.column) == (1, 1)
    assert "NUL" in err.message


def test_control_character_is_located():
    # Was reported at 1:1 with PyYAML's multi-line text.
    err = spec_error("name: t\nclasses: 10\nencoder: \x07\n")
    assert (err.line, err.column) == (3, 10)
    assert len(str(err).splitlines()) == 1
    assert FORMAT.match(str(err))


def test_missing_op_lists_the_ops():
    # Was "missing required key 'op' (expected one of: )".
    err = spec_error(_HEADER + "encoder:\n  - stage: s\n    layers:\n      - {out: 8}\n")
    assert (err.line, err.column, err.key_path) == (7, 9, "encoder[0].layers[0]")
    assert "expected one of: conv, conv_transpose," in err.message


def test_spec_name_hint_matches_its_pattern():
    # The hint said "not starting with a digit", but '3d-net.v2' is a valid spec name.
    valid = _HEADER.replace("name: t", "name: 3d-net.v2") + _LAYERS
    assert graphspec.load_spec(valid).name == "3d-net.v2"
    err = spec_error(_HEADER.replace("name: t", "name: 'a b'") + _LAYERS)
    assert "not starting with a digit" not in err.message


def test_small_gflops_excess_is_readable():
    # Was "(expected at most 1e-06, got 0.000)". 2 * 8 * 27 * 30 * 30 = 388,800 FLOPs.
    err = spec_error(_HEADER + "budget: {max_gflops: 0.000001}\n" + _LAYERS)
    assert err.key_path == "budget.max_gflops"
    assert "got 0.000)" not in err.message
    assert "0.0003888" in err.message


def test_unknown_key_named_like_the_op():
    # Was key path encoder[0].layers[0].conv.conv at the value's column (45).
    err = spec_error(_HEADER + _LAYERS.replace("kernel: 3}", "kernel: 3, conv: 1}"))
    assert err.key_path == "encoder[0].layers[0].conv"
    assert (err.line, err.column) == (7, 39)


# --- Known bugs in graphspec/ (strict xfail: they start failing once fixed) ---------------


def test_exponent_float_without_dot_is_a_number():
    text = _HEADER + "budget: {max_gflops: 1e-2, max_params: 1e6}\n" + _LAYERS
    spec = graphspec.load_spec(text)
    assert spec.budget.max_gflops == 0.01 and spec.budget.max_params == 1e6


def test_duplicate_stage_name_is_reported_at_the_stage():
    text = textwrap.dedent(
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        encoder:
          - stage: s
            layers:
              - {op: relu}
          - stage: s
            layers:
              - {op: relu}
        """
    )
    err = spec_error(text)
    assert (err.line, err.column, err.key_path) == (8, 12, "encoder[1].stage")
