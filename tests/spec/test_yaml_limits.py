"""Parser limits are checked while parsing, and libyaml and pure-Python parsing agree.

Every bad input below gives one hand-written message at a hand-counted line:column, and
the same one from each parser :data:`graphspec.source.PARSERS` offers.
"""

from __future__ import annotations

import pytest

from graphspec import SpecError
from graphspec.source import MAX_DEPTH, PARSERS, read_yaml

DEEP = f"nesting too deep (expected at most {MAX_DEPTH} levels, got more)"
TAG = "unsupported YAML tag '!!python/object/apply:os.system' (expected plain values, "
TAG += "lists and mappings; a spec never constructs objects)"

BOMB = (
    "a: &a [1,1,1,1,1,1,1,1,1,1]\n"
    + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcd", "bcde", strict=True)
    )
    + "f: [*e, *e]\n"
)
# (id, text, "line:col", message start)
BAD = [
    # "a: " is 3 columns; the 65th "[" (depth 65: the mapping is depth 0) is column 3 + 65.
    ("unclosed_flow_lists", "a: " + "[" * 5000, "1:68", DEEP),
    # Each "{a: " is 4 columns: the 64th opens at column 4 + 63 * 4 = 256, its value at 260.
    ("unclosed_flow_maps", "a: " + "{a: " * 5000, "1:260", DEEP),
    # "- " per level: the 65th sequence (depth 64) holds the depth-65 node at 1 + 65 * 2.
    ("nested_block_lists", "- " * 5000 + "x\n", "1:131", DEEP),
    ("indented_block_lists", "".join(" " * i + "-\n" for i in range(200)), "66:66", DEEP),
    ("recursive_alias", "a: &a [*a]\n", "1:8", DEEP),
    ("syntax", "a: [1, 2\nb: 3\n", "2:2", "YAML syntax error: while parsing a flow sequence"),
    ("bad_tag", "name: !!python/object/apply:os.system ['true']\n", "1:7", TAG),
    ("bad_key_tag", "!!python/name:os.system x: 1\n", "1:1", "invalid key (expected a string"),
    ("duplicate_key", "a: 1\na: 2\n", "2:1", "duplicate key 'a'"),
    # A syntax error further on is reported before the duplicate key, as it always was.
    ("duplicate_then_syntax", "a: 1\na: 2\nb: [\n", "4:1", "YAML syntax error"),
    ("two_documents", "a: 1\n---\nb: 2\n", "2:1", "more than one YAML document"),
    ("tab", "a:\n\tb: 1\n", "2:1", "tab character in indentation"),
    ("undefined_alias", "a: *x\n", "1:4", "YAML syntax error: found undefined alias 'x'"),
    ("control_char", "a: b\x01\n", "1:5", "invalid character (expected printable text"),
    ("merge_key", "a: &x {b: 1}\nc: {<<: *x}\n", "2:5", "merge keys (<<) are not supported"),
    ("bad_int", "a: !!int x\n", "1:4", "invalid value for !!int (expected an integer, got 'x')"),
    ("empty", "# nothing\n", "1:1", "empty spec"),
    # The root, a..e and f hold 1 + 123,455 + 1 values; f's first *e passes 200,000 at
    # its 76,544th value: the 9th `1` of a (column 8 + 2 * 8), see the path test below.
    ("too_many_values", BOMB, "1:24", "document too large (expected at most 200000 values"),
]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(
    ("text", "where", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_input_is_one_located_error(parser, text, where, message):
    with pytest.raises(SpecError) as info:
        read_yaml(text, "f.yaml", parser=parser)
    (issue,) = info.value.issues
    loc = issue.location
    assert f"{loc.line}:{loc.column}" == where, str(issue)
    assert issue.message.startswith(message), str(issue)
    assert "\n" not in str(issue)


@pytest.mark.parametrize("text", [c[1] for c in BAD], ids=[c[0] for c in BAD])
def test_parsers_give_the_same_error(text):
    seen = set()
    for parser in PARSERS:
        with pytest.raises(SpecError) as info:
            read_yaml(text, "f.yaml", parser=parser)
        seen.add(str(info.value))
    assert len(seen) == 1, seen


def test_too_many_values_names_the_value_that_passed_the_limit():
    # Inside f[0] (e: 1 + 10 * 11,111): 76,544 - 1 = 6 * 11,111 + 9,877 -> d copy 6;
    # 9,877 - 1 = 8 * 1,111 + 988 -> c copy 8; 988 - 1 = 8 * 111 + 99 -> b copy 8;
    # 99 - 1 = 8 * 11 + 10 -> a copy 8, its 10th value: the 9th 1 (index 8).
    with pytest.raises(SpecError) as info:
        read_yaml(BOMB, "f.yaml")
    assert info.value.issues[0].location.key_path == ("f", 0, 6, 8, 8, 8, 8)


def test_depth_error_names_the_path_of_the_deep_node():
    with pytest.raises(SpecError) as info:
        read_yaml("a: " + "[" * 5000, "f.yaml")
    assert info.value.issues[0].location.key_path == ("a", *[0] * 64)


@pytest.mark.parametrize("parser", PARSERS)
def test_values_marks_and_aliases(parser):
    text = "a: &x {b: 1e-3, c: '1e3', d: [1, true, ~]}\ne: *x\nf: [[1]]\n"
    data, smap = read_yaml(text, "f.yaml", parser=parser)
    inner = {"b": 0.001, "c": "1e3", "d": [1, True, None]}
    assert data == {"a": inner, "e": inner, "f": [[1]]}
    assert data["a"] is not data["e"]  # an alias is a copy, never a shared object
    assert smap.values[("a", "d", 1)] == (1, 34)
    assert smap.values[("e", "d", 1)] == (1, 34)  # an alias's values point at the anchor
    assert smap.keys[("e",)] == (2, 1)
    assert smap.values[("f", 0, 0)] == (3, 6)


def test_deep_brackets_inside_a_quoted_string_are_fine():
    text = "name: '" + "[" * 300 + "'\n"
    for parser in PARSERS:
        data, _ = read_yaml(text, parser=parser)
        assert data == {"name": "[" * 300}


def test_libyaml_is_available_here():
    """This project's PyYAML wheel bundles libyaml; the pure-Python parser stays the fallback."""
    assert PARSERS == ("c", "python")
