"""The malformed specs behind tests/spec/test_errors.py, and where their SpecError must point.

Each spec is written out in full so its lines and columns can be counted by eye; the
comment above a case names the character the error must point at. In the layer lists,
``      - {op: ...}`` puts the ``{`` of a layer at column 9.

This module holds data only: the checks live in test_spec_errors.py.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Expected:
    """One issue a case must report, in ``SpecError.issues`` order."""

    line: int
    column: int
    key_path: str
    phrases: tuple[str, ...] = ()  # each must appear in the issue's message
    absent: tuple[str, ...] = ()  # none may appear in it


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    issues: tuple[Expected, ...]  # exactly the issues reported, first one first
    formatted: bool  # every line of str(err) reads "... (expected ..., got ...)"

    def __str__(self) -> str:
        return self.id


def _expected(where: str, phrase: str | tuple[str, ...], absent: tuple[str, ...] = ()) -> Expected:
    """``where`` reads like the start of the error: ``"line:column key.path"``."""
    position, key_path = where.split(" ")
    line, column = map(int, position.split(":"))
    phrases = (phrase,) if isinstance(phrase, str) else tuple(phrase)
    return Expected(line, column, key_path, phrases, tuple(absent))


def case(
    id: str,
    where: str,
    phrase: str | tuple[str, ...],
    text: str,
    formatted: bool = True,
    absent: tuple[str, ...] = (),
) -> Case:
    """A spec with exactly one problem; ``phrase=()`` checks only its location."""
    return Case(id, textwrap.dedent(text), (_expected(where, phrase, absent),), formatted)


def several(
    id: str, issues: list[tuple[str, str | tuple[str, ...]]], text: str, formatted: bool = True
) -> Case:
    """A spec with several problems, all reported: ``issues`` is ``[(where, phrase), ...]``."""
    return Case(id, textwrap.dedent(text), tuple(_expected(*i) for i in issues), formatted)


# Building blocks for the regression cases: three lines of header, then a stage whose one
# layer (line 7, or one further down per line inserted between them) is a 3x3 conv.
HEADER = "name: t\ninput: {channels: 3, height: 32, width: 32}\nclasses: 10\n"
LAYERS = "encoder:\n  - stage: s\n    layers:\n      - {op: conv, out: 8, kernel: 3}\n"


CASES = [
    # --- One problem each ---------------------------------------------------------------
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
    # --- Several problems in one spec, all reported -------------------------------------
    several(
        "several_schema_errors",
        [
            ("2:7 task", ()),
            ("3:30 input.height", ()),
            ("4:10 classes", ()),
            ("8:36 encoder[0].layers[0].kernel", ()),
            ("9:42 encoder[0].layers[1].stride", ()),
        ],
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
        """,
    ),
    several(
        "several_graph_errors",
        [
            ("8:45 encoder[0].layers[1].name", "duplicate name 'a'"),
            ("9:25 encoder[0].layers[2].from", "unknown layer name 'nowhere'"),
        ],
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
        """,
        formatted=False,
    ),
    # Both budget limits are reported; 1791 is one below the conv's 3*64*9 + 64 = 1792
    # parameters (test_budget_boundary_is_inclusive checks that against PyTorch).
    several(
        "budget_reports_both_limits",
        [
            ("4:22 budget.max_params", "1,792 parameters"),
            ("4:40 budget.max_gflops", ()),
        ],
        """\
        name: t
        input: {channels: 3, height: 32, width: 32}
        classes: 10
        budget: {max_params: 1791, max_gflops: 0.001}
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 64, kernel: 3}
        """,
    ),
    # --- Regressions: bugs this suite found in graphspec/, since fixed ------------------
    # Was a KeyError from PyYAML's SafeConstructor.
    case("bad_explicit_bool", "1:7 name", "got 'maybe'", "name: !!bool maybe\n"),
    # Was an IndexError from PyYAML's SafeConstructor.
    case("empty_explicit_int", "2:10 classes", "!!int", "name: t\nclasses: !!int ''\n"),
    case("empty_explicit_float", "2:10 classes", "!!float", "name: t\nclasses: !!float ''\n"),
    # Was a ConstructorError, KeyError or ValueError: keys were constructed unguarded.
    *(
        case(f"tagged_key_{id}", "2:1 <root>", "invalid key (expected a string key", text)
        for id, text in [
            ("local_tag", "name: t\n!foo bar: 1\n"),
            ("python_name", "name: t\n!!python/name:os.system x: 1\n"),
            ("bool", "name: t\n!!bool maybe: 1\n"),
            ("int", "name: t\n!!int layers: 1\n"),
        ]
    ),
    # Was an OverflowError in the width scaling (int * float).
    case(
        "huge_out",
        "7:25 encoder[0].layers[0].out",
        (),
        HEADER + LAYERS.replace("out: 8", "out: " + "9" * 400),
    ),
    # Was an OverflowError: round(inf) while scaling `out`.
    case(
        "infinite_width",
        "4:16 scale.width",
        (),
        HEADER + "scale: {width: .inf}\n" + LAYERS,
        formatted=False,
    ),
    # Was reported at 1:1 with PyYAML's multi-line text.
    case("control_character", "3:10 <root>", (), "name: t\nclasses: 10\nencoder: \x07\n"),
    # Was "missing required key 'op' (expected one of: )".
    case(
        "missing_op_lists_the_ops",
        "7:9 encoder[0].layers[0]",
        "expected one of: conv, conv_transpose,",
        HEADER + "encoder:\n  - stage: s\n    layers:\n      - {out: 8}\n",
        formatted=False,
    ),
    # Was "(expected at most 1e-06, got 0.000)". 2 * 8 * 27 * 30 * 30 = 388,800 FLOPs.
    case(
        "small_gflops_excess_is_readable",
        "4:22 budget.max_gflops",
        "0.0003888",
        HEADER + "budget: {max_gflops: 0.000001}\n" + LAYERS,
        absent=("got 0.000)",),
    ),
    # Was key path encoder[0].layers[0].conv.conv at the value's column (45).
    case(
        "unknown_key_named_like_the_op",
        "7:39 encoder[0].layers[0].conv",
        (),
        HEADER + LAYERS.replace("kernel: 3}", "kernel: 3, conv: 1}"),
        formatted=False,
    ),
    # The second `s` (line 8) is at column 12.
    case(
        "duplicate_stage_name",
        "8:12 encoder[1].stage",
        (),
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
        """,
        formatted=False,
    ),
]
