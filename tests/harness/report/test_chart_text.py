"""What a reader sees on the charts: whole epochs, the validation metric's name, and no
label, title or legend cut off at the picture's edge (long spec names included)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

import benchmarks.report.charts.curves as curves_module
from benchmarks.report.charts.axes import COST_AXES
from benchmarks.report.charts.curves import task_curves
from benchmarks.report.charts.labels import LABEL_CHARS
from benchmarks.report.charts.scatter import plot_tradeoff
from benchmarks.tasks import Metric
from benchmarks.tasks.detection import DetectionTask
from benchmarks.tasks.segmentation import SegmentationTask

LONG = "a-very-long-spec-name-" * 8  # 176 characters, as long as a YAML string may be
HISTORY = (
    "epoch,train_loss,lr,val_metric,epoch_s\n1,1.0,0.1,0.2,1\n2,0.5,0.1,0.4,1\n3,0.4,0.1,0.5,1\n"
)


def _run(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two specs of three epochs each, one with a long name; their groups and seed rows."""
    groups, rows = [], []
    for group, spec in enumerate(("short", LONG)):
        key = f"{group:016d}"
        folder = root / "jobs" / f"{spec[:20]}-{key[:8]}"
        folder.mkdir(parents=True)
        (folder / "history.csv").write_text(HISTORY, encoding="utf-8")
        groups.append({"group": group, "label": spec, "converged": True})
        rows.append({"group": group, "job_key": key, "spec_file": f"{spec[:20]}.yaml"})
    return pd.DataFrame(groups), pd.DataFrame(rows)


@pytest.fixture
def drawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Figure], Path]:
    """The training-curves figure of a segmentation run, as saved, and its PNG."""
    figures: list[Figure] = []
    save = curves_module.save_figure

    def keep(fig: Figure, out_stem: Path) -> tuple[Path, Path]:
        figures.append(fig)
        return save(fig, out_stem)

    monkeypatch.setattr(curves_module, "save_figure", keep)
    groups, rows = _run(tmp_path)
    metric = SegmentationTask.metrics[0]
    chart = task_curves(SegmentationTask.name, groups, rows, [tmp_path], tmp_path, metric)
    assert chart is not None
    return figures, chart.png


def test_epochs_are_whole_numbers(drawn: tuple[list[Figure], Path]) -> None:
    (fig,) = drawn[0]
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_the_validation_axis_names_the_primary_metric(drawn: tuple[list[Figure], Path]) -> None:
    (fig,) = drawn[0]
    metric = SegmentationTask.metrics[0]
    assert fig.axes[0].get_ylabel() == f"validation {metric.axis_label}"
    assert metric.name in fig.axes[0].get_ylabel()


def _border_is_white(png: Path, width: int = 3) -> bool:
    """Whether nothing is drawn on the picture's outer ``width`` pixels (a cut-off text
    runs into the edge)."""
    pixels = np.asarray(Image.open(png).convert("L"))
    edges = [pixels[:width], pixels[-width:], pixels[:, :width], pixels[:, -width:]]
    return all((edge >= 250).all() for edge in edges)


def test_the_curves_legend_is_whole_and_long_names_are_shortened(
    drawn: tuple[list[Figure], Path],
) -> None:
    figures, png = drawn
    assert _border_is_white(png)
    texts = [t.get_text() for t in figures[0].legends[0].get_texts()]
    assert texts[0] == "short"
    assert len(texts[1]) == LABEL_CHARS and "…" in texts[1]
    assert texts[1].startswith(LONG[:15]) and texts[1].endswith(LONG[-15:])


@pytest.mark.parametrize("metric", [DetectionTask.metrics[0], Metric("m", "m", "m " * 40)])
def test_no_scatter_text_is_cut_off(tmp_path: Path, metric: Metric) -> None:
    """The detection chart's long axis label, a long y label and long point labels."""
    points = pd.DataFrame(
        {
            "label": ["short", LONG, LONG + "2"],
            "setting": "",
            "x": [0.01, 0.5, 2.0],
            "y": [0.48331, 0.48342, 0.48351],
        }
    )
    cost = COST_AXES[0]
    png, svg = plot_tradeoff(
        points, cost=cost, metric=metric, title=f"{LONG}: {metric.name}", out_stem=tmp_path / "c"
    )
    assert _border_is_white(png)
    assert f">{LONG}<" not in svg.read_text(encoding="utf-8")  # shortened on the chart
