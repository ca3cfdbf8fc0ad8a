"""Malformed specs: every problem is a SpecError pointing at the right line, column and key.

The table of malformed specs (text, expected line:column, key path and message fragments)
is in spec_error_cases.py next to this file; the tests here run each shape of check over
it, followed by the cases that do not fit a table.
"""

from __future__ import annotations

import os
import re

import pytest
from torch import nn

import graphspec
from graphspec import SpecError
from graphspec.errors import format_key_path
from tests import REPO
from tests.spec.error_cases import CASES, HEADER, LAYERS, Case

FORMAT = re.compile(r"^[^:]+:\d+:\d+: \S+: .+\(expected .+, got .+\)$")


def spec_error(source: str | os.PathLike[str]) -> SpecError:
    """Load and build ``source``; return the SpecError it must raise."""
    with pytest.raises(SpecError) as info:
        graphspec.build_graph(graphspec.load_spec(source))
    return info.value


def graph_totals(text: str, **build_options: object) -> graphspec.Totals:
    """Build ``text`` and return its parameter and FLOP totals: the one place this file
    reads a built graph."""
    return graphspec.totals(graphspec.build_graph(graphspec.load_spec(text), **build_options))


# --- The table ----------------------------------------------------------------------------


@pytest.mark.parametrize("c", CASES, ids=str)
def test_error_locations_and_messages(c: Case):
    err = spec_error(c.text)
    got = [
        (i.location.file, i.location.line, i.location.column, format_key_path(i.location.key_path))
        for i in err.issues
    ]
    assert got == [("<string>", e.line, e.column, e.key_path) for e in c.issues]
    for issue, expected in zip(err.issues, c.issues, strict=True):
        for phrase in expected.phrases:
            assert phrase in issue.message
        for phrase in expected.absent:
            assert phrase not in issue.message
    # The error's own attributes describe its first issue, and so does the first line of
    # str(err).
    first = c.issues[0]
    assert (err.file, err.line, err.column, err.key_path) == (
        "<string>",
        first.line,
        first.column,
        first.key_path,
    )
    assert err.message == err.issues[0].message
    assert (
        str(err)
        .splitlines()[0]
        .startswith(f"<string>:{first.line}:{first.column}: {first.key_path}: ")
    )


@pytest.mark.parametrize("c", [c for c in CASES if c.formatted], ids=str)
def test_error_text_reads_expected_got(c: Case):
    err = spec_error(c.text)
    lines = str(err).splitlines()
    assert len(lines) == len(err.issues)
    for line in lines:
        assert FORMAT.match(line), line


def test_case_ids_are_distinct_and_enough():
    assert len({c.id for c in CASES}) == len(CASES) >= 20


# --- Files: the location names the file ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "as_str", "phrases", "formatted"),
    [
        pytest.param(
            "latin1.yaml",
            b"name: caf\xe9\n",
            True,
            ("not UTF-8", "got byte 0xe9 at offset 9"),
            True,
            id="non_utf8_file",
        ),
        pytest.param("nope.yaml", None, True, ("file not found",), True, id="missing_file"),
        # A str naming a directory reads as YAML text, so only the Path is tried.
        pytest.param(None, None, False, ("is a directory",), False, id="directory_path"),
    ],
)
def test_file_error(tmp_path, name, content, as_str, phrases, formatted):
    path = tmp_path / name if name else tmp_path
    if content is not None:
        path.write_bytes(content)
    for source in (path, str(path)) if as_str else (path,):
        err = spec_error(source)
        assert (err.file, err.line, err.column, err.key_path) == (str(path), 1, 1, "<root>")
        for phrase in phrases:
            assert phrase in err.message
        if formatted:
            assert FORMAT.match(str(err))


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\ninput: {channels: 3, height: 32, width: 32}\nclasses: zero\n")
    err = spec_error(path)
    assert str(err).startswith(f"{path}:3:10: classes: wrong type (expected an integer, ")
    # file= overrides the name used in messages.
    with pytest.raises(SpecError) as info:
        graphspec.load_spec(path, file="spec.yaml")
    assert info.value.file == "spec.yaml"


def test_utf8_with_bom_is_fine(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (REPO / "specs/vgg16.yaml").read_bytes())
    assert graphspec.load_spec(path).name == "vgg16"


def test_path_with_nul_byte_is_a_spec_error():
    # Was a ValueError from Path.read_bytes.
    err = spec_error("specs/a\x00b.yaml")
    assert (err.line, err.column) == (1, 1)
    assert "NUL" in err.message


# --- Cases that do not fit the table ------------------------------------------------------


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


def test_issue_to_dict_round_trips_location():
    bad_type_out = next(c for c in CASES if c.id == "bad_type_out")
    err = spec_error(bad_type_out.text)
    assert err.issues[0].to_dict() == {
        "file": "<string>",
        "line": 7,
        "column": 25,
        "key_path": "encoder[0].layers[0].out",
        "message": err.message,
    }


CONV_64 = LAYERS.replace("out: 8", "out: 64")


def test_budget_boundary_is_inclusive():
    # The table's budget_reports_both_limits sets max_params to one below this.
    params = sum(p.numel() for p in nn.Conv2d(3, 64, 3).parameters())  # 1792
    flops = 2 * 64 * 3 * 9 * 30 * 30  # 2 x MACs of a 3x3 conv on a 32x32 map
    exact = f"budget: {{max_params: {params}, max_gflops: {flops / 1e9!r}}}\n"
    assert graph_totals(HEADER + exact + CONV_64) == graphspec.Totals(params=params, flops=flops)


def test_budget_can_be_skipped():
    text = HEADER + "budget: {max_params: 10}\n" + CONV_64
    assert graph_totals(text, check_budget=False).params == 1792


def test_huge_flops_with_budget_is_a_spec_error():
    # Was an OverflowError in the budget check (flops / 1e9) for a 10**200-pixel map.
    huge_padding = "kernel: 1, padding: 1" + "0" * 200
    err = spec_error(
        HEADER + "budget: {max_gflops: 1.0}\n" + LAYERS.replace("kernel: 3", huge_padding)
    )
    assert err.key_path in {"encoder[0].layers[0].padding", "budget.max_gflops"}


def test_spec_name_hint_matches_its_pattern():
    # The hint said "not starting with a digit", but '3d-net.v2' is a valid spec name.
    valid = HEADER.replace("name: t", "name: 3d-net.v2") + LAYERS
    assert graphspec.load_spec(valid).name == "3d-net.v2"
    err = spec_error(HEADER.replace("name: t", "name: 'a b'") + LAYERS)
    assert "not starting with a digit" not in err.message


def test_exponent_float_without_dot_is_a_number():
    text = HEADER + "budget: {max_gflops: 1e-2, max_params: 1e6}\n" + LAYERS
    spec = graphspec.load_spec(text)
    assert spec.budget.max_gflops == 0.01 and spec.budget.max_params == 1e6
