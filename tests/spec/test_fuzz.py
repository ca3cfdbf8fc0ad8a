"""The whole-path fuzz (:mod:`tests.spec.fuzz`) in the suite: a fast seeded slice by default,
a longer campaign (2,000 cases, minutes) under the ``slow`` marker that runs only when asked
for (``-m slow`` or ``GRAPHSPEC_FUZZ_LONG=1``); ``python -m tests.spec.fuzz --cases 10000`` is
the full one. Any exception other than SpecError, a CLI traceback or a case over 5 s fails
the test, and the message lists each finding with its case number, so
``python -m tests.spec.fuzz --show N`` reprints the spec.

The harness itself is checked too: known-bad inputs must be classified as findings, and
the same seed must give the same cases.
"""

from __future__ import annotations

import io
import os

import pytest

from tests.spec import fuzz
from tests.spec.fuzz_mutations import Case, corpus, make_case


def _failures(result: fuzz.Campaign) -> str:
    out = io.StringIO()
    fuzz.report(result, out)
    return out.getvalue()


def test_same_seed_same_cases_and_other_seed_other_cases() -> None:
    bases = corpus()
    first = [make_case(i, 7, bases) for i in range(20)]
    assert first == [make_case(i, 7, bases) for i in range(20)]
    other = [make_case(i, 8, bases) for i in range(20)]
    assert sum(a.text != b.text for a, b in zip(first, other, strict=True)) >= 15


def test_reference_specs_are_accepted_through_the_whole_path() -> None:
    # the small references build a GraphNet, generate source and load the state_dict
    for name in ("unet-small", "segnet-small", "ssd-small", "fcn-small", "faster-rcnn-small"):
        outcome = fuzz.run_case(Case(0, name, (), corpus()[name]), limit=60.0)
        assert (outcome.kind, outcome.stage) == ("accepted", "emit"), outcome


def test_a_bad_spec_is_a_spec_error_and_not_a_finding() -> None:
    outcome = fuzz.run_case(Case(0, "x", (), "name: t\nclasses: [\n"))
    assert (outcome.kind, outcome.stage) == ("spec_error", "load_spec")


def test_other_exceptions_and_hangs_are_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(_: object) -> None:
        raise ZeroDivisionError("injected")

    def spin(_: object) -> None:
        while True:
            pass

    for step, error in ((boom, "ZeroDivisionError"), (spin, "Hang")):
        monkeypatch.setattr(fuzz, "stages", lambda text, s=step: [("inject", s)])
        outcome = fuzz.run_case(Case(0, "x", (), "name: t\n"), limit=0.3)
        assert (outcome.kind, outcome.stage, outcome.error) == ("finding", "inject", error)


def test_fast_slice_has_no_findings() -> None:
    result = fuzz.campaign(150, seed=0, cli_every=30, subproc_every=0)
    assert result.count("accepted") >= 10  # the mutations do not only break the YAML
    assert not result.findings, _failures(result)


@pytest.mark.slow
def test_long_campaign_has_no_findings(request: pytest.FixtureRequest) -> None:
    # minutes, not seconds: only when asked for (-m slow, or GRAPHSPEC_FUZZ_LONG=1)
    asked = "slow" in (request.config.option.markexpr or "")
    if not asked and os.environ.get("GRAPHSPEC_FUZZ_LONG") != "1":
        pytest.skip("long fuzz campaign: run with -m slow or GRAPHSPEC_FUZZ_LONG=1")
    result = fuzz.campaign(2000, seed=1, cli_every=30, subproc_every=10)
    assert not result.findings, _failures(result)


def test_an_exception_escaping_the_cli_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphspec.cli.check

    def boom(path: object) -> None:
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(graphspec.cli.check, "check_file", boom)
    found = fuzz.run_cli(Case(0, "unet-small", (), corpus()["unet-small"]))
    # main turns it into its one "internal error" line, which the fuzz still counts
    assert [(o.stage, o.error) for o in found] == [("cli check", "CLI")]
    assert "internal error (ZeroDivisionError: injected)" in found[0].message


DOUBLE_FLATTEN = """\
name: t
task: segmentation
input: {channels: 3, height: 32, width: 32}
classes: 2
encoder:
- stage: s
  layers:
  - {op: conv, out: 4, kernel: 3}
  - {op: flatten}
  - {op: flatten}
  - {op: linear, out: classes}
"""


# found by the fuzz (seed 0, case 3741): build.py _wire calls _suggest (difflib over every
# layer name) once per unknown `from`; a repeated stage multiplies both, 9 s and 240 kB
REPEATED_BAD_FROM = """\
name: t
input: {channels: 3, height: 8, width: 8}
classes: 2
encoder:
- stage: a
  repeat: 1000
  layers:
  - {op: relu}
  - {op: relu, from: nope}
- stage: b
  repeat: 1000
  layers:
  - {op: relu}
  - {op: relu, from: nope}
"""


@pytest.mark.parametrize(
    "text", [DOUBLE_FLATTEN, REPEATED_BAD_FROM], ids=["double-flatten", "repeated-bad-from"]
)
def test_found_escapes_are_spec_errors(text: str) -> None:
    # double-flatten (an earlier version of the fuzz, seed 1): fc_to_conv read the second
    # flatten's input, a 1-D vector, as a C x h x w map (kernel=(shape[1], shape[2])) and
    # raised IndexError; a flatten of a vector is now skipped (and removed) like a no-op
    outcome = fuzz.run_case(Case(0, "found", (), text), limit=2.0)
    assert outcome.kind == "spec_error", outcome


def test_repeated_bad_from_is_reported_once_per_line() -> None:
    from graphspec import SpecError, build_graph, load_spec

    with pytest.raises(SpecError) as caught:
        build_graph(load_spec(REPEATED_BAD_FROM, file="r.yaml"))
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[0] for line in lines] == ["r.yaml:9:22", "r.yaml:14:22"]
