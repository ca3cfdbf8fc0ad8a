"""Runs whose timing was flagged noisy: drawn hollow orange on latency charts, apart from the
runs that did not converge, and kept off the latency frontier (chart, Pareto column, winner
line) unless ``allow_noisy``."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from benchmarks.report.charts.axes import COST_AXES
from benchmarks.report.charts.scatter import draw_tradeoff
from benchmarks.report.write import write_report
from benchmarks.tasks.segmentation import SegmentationTask

METRIC = SegmentationTask.metrics[0]
TASK = SegmentationTask.name
LATENCY = next(axis for axis in COST_AXES if axis.timed)
REASON = "load average 3.00 > 2 cores"

# No GFLOPs or parameters, so latency is the cost of the table and winner line too.
#   a  1 ms  0.692  noisy   on the frontier only when allowed (cheapest)
#   b  2 ms  0.695          on the frontier either way (a is worse, so b does not lose to it)
#   c  4 ms  0.700          best mean, on the frontier
# Within 0.01 of c: a (when allowed, 4x cheaper) or else b (2x cheaper).
RUNS = (("a", 1.0, 0.692, True), ("b", 2.0, 0.695, False), ("c", 4.0, 0.700, False))


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "spec": spec,
                "task": TASK,
                "status": "ok",
                "latency_ms": latency,
                METRIC.column: score,
                "timing_noisy": noisy,
                "timing_noise_reason": REASON if noisy else "",
            }
            for spec, latency, score, noisy in RUNS
        ]
    )


def _report(tmp_path: Path, **options: bool) -> tuple[str, Path]:
    written = write_report(_rows(), tmp_path, **options)
    svg = next(path for name, path in written.items() if name.endswith("_latency_ms.svg"))
    return written["report.md"].read_text(encoding="utf-8"), svg


def _frontier_markers(svg: Path) -> int:
    """Markers the chart drew as frontier points (the scatter's ``frontier`` group)."""
    groups = [g for g in ET.parse(svg).iter() if g.get("id") == "frontier"]
    return sum(1 for g in groups for e in g.iter() if e.tag.endswith("}use"))


def _pareto(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:]]
    return {row[0]: row[header.index("Pareto")] for row in cells}


def _winner(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("**Winner**"))


def test_a_noisy_run_is_kept_off_the_latency_frontier(tmp_path: Path) -> None:
    text, svg = _report(tmp_path)
    assert _frontier_markers(svg) == 2
    assert _pareto(text) == {"c": "✓", "b": "✓", "a": ""}
    winner = _winner(text)
    assert "cheapest frontier run within 0.01: **b** at 0.695 with 2.00 latency (2.0x less)" in (
        winner
    )
    assert "1 run with a noisy timing not compared on latency" in winner
    assert (
        "Hollow orange markers, noisy timing, kept off the frontier (a latency measured on a "
        f"busy machine is no cost to rank by; --allow-noisy keeps them on): a ({REASON})."
    ) in text
    assert "Noisy timing, kept off the mIoU-vs-latency Pareto frontier" in text


def test_allow_noisy_lets_it_on(tmp_path: Path) -> None:
    text, svg = _report(tmp_path, allow_noisy=True)
    assert _frontier_markers(svg) == 3
    assert _pareto(text) == {"c": "✓", "b": "✓", "a": "✓"}
    winner = _winner(text)
    assert "cheapest frontier run within 0.01: **a** at 0.692 with 1.00 latency (4.0x less)" in (
        winner
    )
    assert "noisy timing not compared" not in winner
    assert f"noisy timing, let onto the frontier by --allow-noisy: a ({REASON})." in text
    assert "kept off" not in text


def test_a_noisy_timing_says_nothing_about_gflops(tmp_path: Path) -> None:
    rows = _rows().assign(gflops=[1.0, 2.0, 4.0])  # GFLOPs is now the table's cost
    text = write_report(rows, tmp_path)["report.md"].read_text(encoding="utf-8")
    assert _pareto(text) == {"c": "✓", "b": "✓", "a": "✓"}
    assert "noisy timing not compared" not in _winner(text)


def _marker(ax: plt.Axes, x: float, y: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Face and edge colour of the marker drawn at (x, y)."""
    for artist in ax.collections:
        faces, edges = artist.get_facecolors(), artist.get_edgecolors()
        for i, (px, py) in enumerate(artist.get_offsets()):
            if math.isclose(px, x) and math.isclose(py, y) and len(edges):
                face = tuple(faces[i % len(faces)]) if len(faces) else (0.0, 0.0, 0.0, 0.0)
                return face, tuple(edges[i % len(edges)])
    raise AssertionError(f"no marker at {(x, y)}")


def test_noisy_and_unconverged_markers_are_hollow_but_read_apart() -> None:
    points = pd.DataFrame(
        {
            "label": ["steady", "noisy", "unsettled"],
            "setting": ["", "", ""],
            "x": [1.0, 2.0, 4.0],
            "y": [0.3, 0.5, 0.6],
            "converged": [True, True, False],
            "noisy": [False, True, False],
        }
    )
    fig, ax = plt.subplots()
    try:
        draw_tradeoff(ax, points, LATENCY, METRIC)
        where = zip(points.x, points.y, strict=True)
        steady, noisy, unsettled = (_marker(ax, x, y) for x, y in where)
        assert steady[0][3] == 1.0  # filled
        assert noisy[0][3] == 0.0 and unsettled[0][3] == 0.0  # both hollow
        red, green, blue, _ = noisy[1]
        assert red > green > blue  # an orange edge
        assert noisy[1] != unsettled[1]
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "not converged" in legend and "noisy timing" in legend
    finally:
        plt.close(fig)


@pytest.mark.parametrize("eligible, on_frontier", [(False, [False, True]), (True, [True, True])])
def test_a_point_not_eligible_is_never_on_the_frontier(eligible: bool, on_frontier: list) -> None:
    points = pd.DataFrame(
        {"label": ["cheap", "dear"], "setting": "", "x": [1.0, 2.0], "y": [0.5, 0.6]}
    ).assign(eligible=[eligible, True])
    fig, ax = plt.subplots()
    try:
        drawn = draw_tradeoff(ax, points, LATENCY, METRIC)
    finally:
        plt.close(fig)
    assert drawn["frontier"].tolist() == on_frontier
