"""Runs that learned nothing: folded over seeds, drawn apart, off the frontier, never the winner.

Before, the report named a detector with mAP 0.002 its winner and put runs at the trivial
baseline on the Pareto frontier. Hand-worked table (GFLOPs minimised, mean mIoU maximised):

    spec  GFLOPs  seeds (mIoU, learned)          mean   learned  ranked
    a     1       0.30 no                        0.30   no       no (would be the cheapest)
    b     2       0.50 yes                       0.50   yes      frontier, winner
    c     4       0.70 no                        0.70   no       no (would be the best mean)
    d     3       0.60 yes, 0.20 no              0.40   no       no: a seed learned nothing
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from benchmarks.report.aggregate import aggregate_seeds
from benchmarks.report.charts.axes import COST_AXES
from benchmarks.report.charts.labels import place_labels
from benchmarks.report.charts.scatter import draw_tradeoff
from benchmarks.report.pareto import pareto_mask
from benchmarks.report.write import write_report
from benchmarks.store.row import SEED_FOLDS, column_kinds
from benchmarks.tasks.segmentation import SegmentationTask

NOTHING = "best miou 0.3000 <= 0.3100 = baseline 0.3000 (majority class everywhere) + margin 0.01"
RUNS = (  # spec, seed, GFLOPs, mIoU, learned
    ("a", 0, 1.0, 0.30, False),
    ("b", 0, 2.0, 0.50, True),
    ("c", 0, 4.0, 0.70, False),
    ("d", 0, 3.0, 0.60, True),
    ("d", 1, 3.0, 0.20, False),
)


def _rows(learned: bool | None = None) -> pd.DataFrame:
    """The runs above; ``learned`` overrides every run's flag."""
    return pd.DataFrame(
        [
            {
                "spec": spec,
                "task": "segmentation",
                "status": "ok",
                "params": 1e6,
                "gflops": gflops,
                "latency_ms": gflops,
                "seed": seed,
                "miou": miou,
                "converged": flag,  # a run that learned nothing never converged
                "convergence_reason": "" if flag else f"learned nothing: {NOTHING}",
                "learned": flag if learned is None else learned,
                "learned_reason": "" if flag else NOTHING,
                "job_key": f"{spec}{seed}" + "0" * 14,
            }
            for spec, seed, gflops, miou, flag in RUNS
        ]
    )


def _table(text: str, heading: str) -> list[dict[str, str]]:
    block = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[2:]]


def test_learned_is_a_yes_no_column_that_folds_like_converged() -> None:
    assert (column_kinds()["learned"], column_kinds()["learned_reason"]) == ("bool", "text")
    assert (SEED_FOLDS["learned"], SEED_FOLDS["learned_reason"]) == ("all", "texts")
    agg = aggregate_seeds(_rows(), ["miou"])
    assert agg["spec"].tolist() == ["a", "b", "c", "d"]
    assert agg["learned"].tolist() == [False, True, False, False]
    assert agg["miou"].tolist() == pytest.approx([0.30, 0.50, 0.70, 0.40])
    assert agg["learned_reason"].tolist() == [NOTHING, "", NOTHING, NOTHING]


def test_pareto_mask_leaves_ineligible_points_out() -> None:
    # Costs 1, 2, 4, 3 and scores as above: eligible b alone is the whole frontier; with
    # every point eligible a (cheapest), b and c (best) are on it.
    costs, scores = [1.0, 2.0, 4.0, 3.0], [0.30, 0.50, 0.70, 0.40]
    assert pareto_mask(costs, scores).tolist() == [True, True, True, False]
    only_b = pareto_mask(costs, scores, [False, True, False, False])
    assert only_b.tolist() == [False, True, False, False]
    with pytest.raises(ValueError, match="eligible must have 4 entries"):
        pareto_mask(costs, scores, [True])


@pytest.fixture(scope="module")
def report_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("learned")
    return write_report(_rows(), out)["report.md"].read_text(encoding="utf-8")


def test_winner_is_the_best_run_that_learned(report_text: str) -> None:
    winner = next(line for line in report_text.splitlines() if line.startswith("**Winner**"))
    assert winner.startswith("**Winner** – Segmentation: best mean mIoU is **b** at 0.500")
    assert "**c**" not in winner and "**a**" not in winner
    assert winner.rstrip().endswith(
        "; 3 runs that learned nothing (at the trivial baseline) not ranked."
    )


def test_table_lists_them_last_off_the_frontier(report_text: str) -> None:
    rows = _table(report_text, "Segmentation (mIoU)")
    assert [(r["Spec"], r["mIoU"], r["Learned"], r["Pareto"]) for r in rows] == [
        ("b", "0.500", "✓", "✓"),
        ("c", "0.700", "✗", ""),
        ("d", "0.400 ± 0.283", "✗", ""),
        ("a", "0.300", "✗", ""),
    ]
    assert rows[1]["Converged"] == f"✗ learned nothing: {NOTHING}"
    seeds = _table(report_text, "Segmentation: per-seed runs")
    assert [(r["Spec"], r["Seed"], r["Learned"]) for r in seeds if r["Spec"] == "d"] == [
        ("d", "0", "✓"),
        ("d", "1", "✗"),
    ]
    assert "Learned: ✗ at least one seed learned nothing" in report_text


def test_chart_note_names_them(report_text: str) -> None:
    assert (
        "Grey crosses, learned nothing (best validation score at the task's trivial baseline; "
        "never on the frontier): a, c, d."
    ) in report_text
    assert "Hollow markers, not converged" not in report_text  # the cross says more


def test_no_winner_when_no_run_learned(tmp_path: Path) -> None:
    text = write_report(_rows(learned=False), tmp_path)["report.md"].read_text("utf-8")
    assert (
        "**Winner** – Segmentation: no winner: no run learned anything (every best validation "
        "mIoU was at the task's trivial baseline)."
    ) in text
    # Rows of older runs say nothing: they rank as before (c, the best mean, wins).
    old = write_report(_rows().drop(columns=["learned"]), tmp_path / "old")["report.md"]
    assert "best mean mIoU is **c** at 0.700" in old.read_text("utf-8")


def test_points_that_learned_nothing_are_grey_crosses_off_the_frontier() -> None:
    points = pd.DataFrame(
        {
            "label": ["a", "b", "c"],
            "setting": ["", "", ""],
            "x": [1.0, 2.0, 4.0],
            "y": [0.30, 0.50, 0.70],
            "learned": [False, True, False],
        }
    )
    fig, ax = plt.subplots()
    try:
        gflops = next(c for c in COST_AXES if c.column == "gflops")
        drawn = draw_tradeoff(ax, points, gflops, SegmentationTask.metrics[0])
        assert drawn["frontier"].tolist() == [False, True, False]
        (crosses,) = [c for c in ax.collections if c.get_gid() == "learned-nothing"]
        assert isinstance(crosses, PathCollection)
        assert np.asarray(crosses.get_offsets()).tolist() == [[1.0, 0.30], [4.0, 0.70]]
        others = [c for c in ax.collections if c.get_gid() in ("frontier", "points")]
        assert [np.asarray(c.get_offsets()).tolist() for c in others] == [[[2.0, 0.50]]]
        legend = [text.get_text() for text in ax.get_legend().get_texts()]
        assert "learned nothing" in legend
        place_labels(ax, drawn, fig.canvas.get_renderer())
        labels = {t.get_text(): t.get_color() for t in ax.texts}
        assert labels["a"] == labels["c"] == "#7f7f7f" and labels["b"] == "black"
    finally:
        plt.close(fig)
