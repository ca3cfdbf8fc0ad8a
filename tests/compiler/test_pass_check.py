"""The driver checks the graph after the builder and after every pass it runs, and a
broken graph names the step that broke it (a compiler bug, shown as one line by the CLI).

The toy passes below each break ``specs/tiny-encoder.yaml``'s graph one known way; the
expected messages are written out from that spec's node names
(``input -> conv1 -> stage1_1 -> ...``).
"""

from __future__ import annotations

import pytest

import compiler.driver
from compiler.driver import PASSES, PassStep, compile_graph
from graphspec import Graph, Spec, load_spec
from graphspec.cli import main
from graphspec.ir import GraphCheckError
from tests import SPECS

SPEC = SPECS / "tiny-encoder.yaml"


def break_ports(graph: Graph, spec: Spec) -> Graph:
    """Rewire conv1 to read the image on port 2 (a port gap), in a copy as passes do."""
    broken = graph.copy()
    broken.connect("input", "conv1", 2)
    return broken


def break_in_place(graph: Graph, spec: Spec) -> Graph:
    """Corrupt the input graph itself and return it (the driver must still look)."""
    graph.connect("input", "stage1_1", 2)
    return graph


def drop_output(graph: Graph, spec: Spec) -> Graph:
    broken = graph.copy()
    broken.output = "logits"
    return broken


def keep_graph(graph: Graph, spec: Spec) -> Graph:
    return graph.copy()


def _run_with(monkeypatch: pytest.MonkeyPatch, *passes: PassStep) -> Graph:
    monkeypatch.setattr(compiler.driver, "PASSES", passes)
    return compile_graph(load_spec(SPEC))


def _error(monkeypatch: pytest.MonkeyPatch, *passes: PassStep) -> str:
    with pytest.raises(GraphCheckError) as caught:
        _run_with(monkeypatch, *passes)
    return str(caught.value)


def test_port_gap_names_the_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error(monkeypatch, PassStep(keep_graph, "decoder"), PassStep(break_ports, "head"))
    assert message == (
        "pass break_ports left a broken graph: "
        "node 'conv1' input ports [2] are not contiguous (expected [0])"
    )


def test_a_pass_that_breaks_its_input_in_place_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _error(monkeypatch, PassStep(break_in_place, "decoder"))
    assert message == (
        "pass break_in_place left a broken graph: "
        "node 'stage1_1' input ports [0, 2] are not contiguous (expected [0, 1])"
    )


def test_missing_output_names_the_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error(monkeypatch, PassStep(drop_output, "head"))
    assert message == "pass drop_output left a broken graph: graph output 'logits' is not a node"


def test_a_pass_that_does_not_apply_is_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    skipped = PassStep(break_ports, "head", lambda spec: False)
    graph = _run_with(monkeypatch, *PASSES, skipped)
    assert graph.inputs_of("conv1") == ["input"]


def test_the_builder_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    real_build = compiler.driver.build_graph

    def build_with_gap(spec: Spec, **kwargs: object) -> Graph:
        graph = real_build(spec, **kwargs)
        graph.connect("conv1", "stage1_1", 3)
        return graph

    monkeypatch.setattr(compiler.driver, "build_graph", build_with_gap)
    message = _error(monkeypatch, *PASSES)
    assert message == (
        "build_graph left a broken graph: "
        "node 'stage1_1' input ports [3] are not contiguous (expected [0])"
    )


def test_the_real_passes_leave_a_checked_graph() -> None:
    graph = compile_graph(load_spec(SPEC))
    assert graph.output == "head"
    graph.check()


def test_cli_shows_a_broken_graph_as_one_internal_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRAPHSPEC_DEBUG", raising=False)
    monkeypatch.setattr(compiler.driver, "PASSES", (PassStep(break_ports, "decoder"),))
    assert main(["check", str(SPEC)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(
        "error: internal error (GraphCheckError: pass break_ports left a broken graph: "
        "node 'conv1' input ports [2] are not contiguous (expected [0]))"
    )
