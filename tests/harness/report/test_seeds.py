"""Report over several seeds: protocol header, mean ± std tables, Pareto by mean, convergence
marks, noisy timings, and training curves from the jobs' history.csv."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from benchmarks.report.aggregate import aggregate_seeds, group_ids
from benchmarks.report.charts.axes import COST_AXES
from benchmarks.report.charts.curves import group_curves
from benchmarks.report.charts.scatter import draw_tradeoff
from benchmarks.report.write import write_report
from benchmarks.store.results import ResultsStore
from benchmarks.tasks.segmentation import SegmentationTask

# Hand-worked (sample std, ddof=1), GFLOPs minimised and mean mIoU maximised:
#   p  1 GFLOP  seeds 0.90, 0.10 -> mean 0.500 ± sqrt(0.32) = 0.566   frontier (cheapest)
#   q  2        seeds 0.60, 0.62 -> mean 0.610 ± sqrt(0.0002) = 0.014  frontier
#   r  3        seeds 0.55, 0.57 -> mean 0.560 ± 0.014                dominated by q
#   u  4        seeds 0.70, 0.72 -> mean 0.710 ± 0.014, not converged  frontier, best mean
# Per seed, p's 0.90 would dominate every other run; by the mean it does not.
SEEDS = {
    "p": (1.0, (0.90, 0.10), (1.0, 3.0)),
    "q": (2.0, (0.60, 0.62), (2.0, 2.0)),
    "r": (3.0, (0.55, 0.57), (5.0, 7.0)),
    "u": (4.0, (0.70, 0.72), (8.0, 8.0)),
}
PROTOCOL = {
    "version": 1,
    "data": "voc:/data/VOC",
    "train_images": 1464,
    "val_images": 725,
    "test_images": 724,
    "epochs": 17,
    "patience": 4,
    "val_every": 2,
    "image_size": "96x80",
    "batch_size": 12,
    "lr": 0.0042,
    "augmentation": "random flips",
    "normalisation": "imagenet",
    "device": "cuda:0",
    "dtype": "bf16",
    "threads": 7,
    "torch_version": "9.8.7",
    "graphspec_version": "6.5.4",
    "git_commit": "abc1234",
    "date": "2031-02-03T04:05:06+00:00",
    "load_avg": [1.25, 0.5, 0.75],
}
HISTORIES = {  # job folder -> history.csv, written by hand
    "p-p0keyaaa": "epoch,train_loss,lr,val_metric,epoch_s\n1,1.0,0.1,0.2,1\n2,0.5,0.1,,1\n"
    "3,0.25,0.1,0.6,1\n",
    "p-p1keyaaa": "epoch,train_loss,lr,val_metric,epoch_s\n1,0.8,0.1,0.4,1\n2,0.4,0.1,0.5,1\n",
    "q-q0keyaaa": "epoch,train_loss,lr,val_metric,epoch_s\n1,2.0,0.1,0.1,1\n2,1.0,0.1,0.3,1\n",
    "r-r0keyaaa": "epoch,train_loss\n1,3.0\n",  # no val_metric column: listed, not drawn
}


def _rows() -> pd.DataFrame:
    rows = []
    for spec, (gflops, mious, latencies) in SEEDS.items():
        for seed, (miou, latency) in enumerate(zip(mious, latencies, strict=True)):
            noisy = spec == "r" and seed == 1
            rows.append(
                {
                    "spec": spec,
                    "task": "segmentation",
                    "status": "ok",
                    "params": 1e6,
                    "gflops": gflops,
                    "latency_ms": latency,
                    "latency_iqr_ms": 0.4 + 0.2 * seed,
                    "seed": seed,
                    "miou": miou,
                    "converged": spec != "u",
                    "convergence_reason": "no plateau" if spec == "u" else "",
                    "timing_noisy": noisy,
                    "timing_noise_reason": "load 5.0 on 2 cores" if noisy else "",
                    "spec_file": f"specs/{spec}.yaml",
                    "job_key": f"{spec}{seed}keyaaa" + "0" * 8,
                }
            )
    return pd.DataFrame(rows)


def _run_dir(root: Path, protocol: dict[str, object] | None) -> Path:
    run = root / "run"
    run.mkdir(parents=True)
    _rows().to_csv(run / "results.csv", index=False)
    if protocol is not None:
        (run / "protocol.json").write_text(json.dumps(protocol), encoding="utf-8")
    for folder, text in HISTORIES.items():
        (run / "jobs" / folder).mkdir(parents=True)
        (run / "jobs" / folder / "history.csv").write_text(text, encoding="utf-8")
    return run


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    run = _run_dir(tmp_path_factory.mktemp("seeds"), PROTOCOL)
    return write_report(run, run / "report", title="Seeds")


def _header(text: str) -> dict[str, str]:
    return dict(re.findall(r"^- \*\*(.+?)\*\*: (.*)$", text, flags=re.MULTILINE))


def _table(text: str, heading: str) -> list[dict[str, str]]:
    block = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[2:]]


def test_header_lists_every_protocol_field(report: dict[str, Path]) -> None:
    header = _header(report["report.md"].read_text(encoding="utf-8"))
    assert header == {
        "Data": "voc:/data/VOC; images: train 1464, val 725, test 724",
        "Epochs (maximum)": "17",
        "Early stopping": "patience 4 validations without improvement",
        "Validation every (epochs)": "2",
        "Image size": "96x80",
        "Batch size": "12",
        "Learning rate": "0.0042",
        "Seeds": "2 per spec and setting (seeds 0, 1)",
        "Augmentation": "random flips",
        "Normalisation": "imagenet",
        "Device": "cuda:0",
        "Dtype": "bf16",
        "Threads": "7",
        "torch": "9.8.7",
        "graphspec": "6.5.4",
        "Git commit": "abc1234",
        "Date": "2031-02-03T04:05:06+00:00",
        "Load average": "1.25, 0.50, 0.75 (1, 5, 15 min)",
        "Units": header["Units"],
    }
    assert "fractions in [0, 1]" in header["Units"] and "ddof=1" in header["Units"]
    html = report["report.html"].read_text(encoding="utf-8")
    assert "<li><strong>Dtype</strong>: bf16</li>" in html


def test_table_is_mean_and_std_with_pareto_by_mean(report: dict[str, Path]) -> None:
    rows = _table(report["report.md"].read_text(encoding="utf-8"), "Segmentation (mIoU)")
    assert [(r["Spec"], r["mIoU"], r["Seeds"], r["Pareto"]) for r in rows] == [
        ("u", "0.710 ± 0.014", "2", "✓"),
        ("q", "0.610 ± 0.014", "2", "✓"),
        ("r", "0.560 ± 0.014", "2", ""),
        ("p", "0.500 ± 0.566", "2", "✓"),
    ]
    latency = {r["Spec"]: r["Latency (ms ± IQR)"] for r in rows}
    # Median over seeds of latency (1, 3 -> 2) and of the per-seed IQR (0.4, 0.6 -> 0.5).
    assert latency["p"] == "2.00 ± 0.50"
    assert latency["r"] == "6.00 ± 0.50 (noisy)"
    assert {r["Spec"]: r["Converged"] for r in rows}["u"] == "✗ no plateau"


def test_per_seed_rows_are_listed(report: dict[str, Path]) -> None:
    rows = _table(report["report.md"].read_text(encoding="utf-8"), "Segmentation: per-seed runs")
    assert [(r["Spec"], r["Seed"], r["mIoU"]) for r in rows] == [
        ("p", "0", "0.900"),
        ("p", "1", "0.100"),
        ("q", "0", "0.600"),
        ("q", "1", "0.620"),
        ("r", "0", "0.550"),
        ("r", "1", "0.570"),
        ("u", "0", "0.700"),
        ("u", "1", "0.720"),
    ]
    assert {(r["Spec"], r["Seed"]): r["Timing"] for r in rows}[("r", "1")] == (
        "noisy: load 5.0 on 2 cores"
    )


def test_unconverged_best_mean_is_called_out(report: dict[str, Path]) -> None:
    text = report["report.md"].read_text(encoding="utf-8")
    winner = next(line for line in text.splitlines() if "Segmentation: best" in line)
    assert "**u** at 0.710 ± 0.014 (2 seeds) (**not converged**: no plateau)" in winner
    assert "best converged run: **q** at 0.610 ± 0.014 (2 seeds)" in winner
    assert "Hollow blue or red markers, not converged: u." in text
    assert "noisy timing, kept off the frontier (a latency measured on a busy machine" in text


def test_converged_best_has_no_warning(tmp_path: Path) -> None:
    rows = _rows()
    rows = rows[rows["spec"] != "u"]
    text = write_report(rows, tmp_path)["report.md"].read_text(encoding="utf-8")
    winner = next(line for line in text.splitlines() if "Segmentation: best" in line)
    assert "**q** at 0.610" in winner and "converged" not in winner


def test_curves_are_the_mean_of_hand_written_histories(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, None)
    rows = _rows().assign(group=lambda df: group_ids(df))
    groups = aggregate_seeds(rows, ["miou"]).assign(label=lambda df: df["spec"])
    curves, problems = group_curves(groups, rows, [run])
    assert [(c.label, c.seeds) for c in curves] == [("p", 2), ("q", 1)]
    p = curves[0]
    # Epoch 1: losses 1.0 and 0.8, metrics 0.2 and 0.4; epoch 2: losses 0.5 and 0.4, one
    # metric 0.5 (seed 0 was not validated); epoch 3: only seed 0 ran it.
    assert p.epochs.tolist() == [1.0, 2.0, 3.0]
    assert p.train_loss.tolist() == pytest.approx([0.9, 0.45, 0.25])
    assert p.val_metric.tolist() == pytest.approx([0.3, 0.5, 0.6])
    assert curves[1].val_metric.tolist() == pytest.approx([0.1, 0.3])
    assert len(problems) == 1 and "r-r0keyaaa" in problems[0] and "val_metric" in problems[0]


def test_curves_are_embedded_and_linked(report: dict[str, Path]) -> None:
    assert report["segmentation_training_curves.png"].read_bytes()[:4] == b"\x89PNG"
    text = report["report.md"].read_text(encoding="utf-8")
    assert "](segmentation_training_curves.png)" in text
    html = report["report.html"].read_text(encoding="utf-8")
    assert 'data-chart="segmentation_training_curves.svg"' in html


def _facecolour(ax: plt.Axes, x: float, y: float) -> tuple[float, ...]:
    """The face colour the scatter artists give the marker at (x, y)."""
    for artist in ax.collections:
        if not isinstance(artist, PathCollection):
            continue
        faces = artist.get_facecolors()
        for i, (px, py) in enumerate(artist.get_offsets()):
            if math.isclose(px, x) and math.isclose(py, y):
                return tuple(faces[i % len(faces)]) if len(faces) else (0.0, 0.0, 0.0, 0.0)
    raise AssertionError(f"no marker at {(x, y)}")


def test_unconverged_points_are_hollow_and_latency_has_iqr_bars() -> None:
    points = pd.DataFrame(
        {
            "label": ["ok", "unsettled", "old"],
            "setting": ["", "", ""],
            "x": [1.0, 2.0, 4.0],
            "y": [0.5, 0.6, 0.4],
            "yerr": [0.05, float("nan"), float("nan")],
            "xerr": [float("nan"), float("nan"), 1.0],
            "converged": [True, False, None],
        }
    )
    fig, ax = plt.subplots()
    try:
        latency = next(c for c in COST_AXES if c.column == "latency_ms")
        draw_tradeoff(ax, points, latency, SegmentationTask.metrics[0])
        assert _facecolour(ax, 2.0, 0.6)[3] == 0.0  # not converged: no fill
        assert _facecolour(ax, 1.0, 0.5)[3] == 1.0
        assert _facecolour(ax, 4.0, 0.4)[3] == 1.0  # unknown (older run): drawn normally
        (bars,) = ax.containers
        horizontal, vertical = bars.lines[2]
        # Half-IQR 1.0 each side of 4.0; one std 0.05 around 0.5 at x = 1.
        spans = sorted(tuple(s[:, 0]) for s in horizontal.get_segments())
        assert (3.0, 5.0) in spans
        heights = [tuple(s[:, 1]) for s in vertical.get_segments() if s[0, 0] == 1.0]
        assert heights == [pytest.approx((0.45, 0.55))]
    finally:
        plt.close(fig)


def test_merged_runs_show_each_protocol_value_and_rows_fill_gaps(tmp_path: Path) -> None:
    first = _run_dir(tmp_path / "a", PROTOCOL)
    second = _run_dir(tmp_path / "b", {**PROTOCOL, "device": "cpu"})
    merged = pd.concat([pd.read_csv(first / "results.csv"), pd.read_csv(second / "results.csv")])
    text = write_report(merged, tmp_path / "out", run_dirs=[first, second])["report.md"]
    assert _header(text.read_text(encoding="utf-8"))["Device"] == "cuda:0 | cpu"

    rows = _rows().assign(device="cpu", data="shapes", train_images=64, eval_images=32)
    header = _header(write_report(rows, tmp_path / "old")["report.md"].read_text("utf-8"))
    assert header["Data"] == "shapes; images: train 64, test 32"
    assert (header["Device"], header["torch"], header["Early stopping"]) == (
        "cpu",
        "not recorded",
        "not recorded",
    )


def test_rows_stored_by_the_results_store_render(tmp_path: Path) -> None:
    # Through the real store: parquet keeps converged as a nullable boolean (None for the
    # older row), seeds as integers.
    store = ResultsStore(tmp_path)
    for row in _rows().head(4).to_dict("records"):
        store.append(row)
    store.append({**_rows().iloc[0].to_dict(), "job_key": "old", "seed": 7, "converged": None})
    text = write_report(tmp_path, tmp_path / "report")["report.md"].read_text(encoding="utf-8")
    rows = _table(text, "Segmentation (mIoU)")
    # p: seeds 0.9, 0.1 and the older seed 7 (0.9): mean 0.633, converged unknown.
    assert {r["Spec"]: (r["mIoU"], r["Seeds"], r["Converged"]) for r in rows} == {
        "p": ("0.633 ± 0.462", "3", "–"),
        "q": ("0.610 ± 0.014", "2", "✓"),
    }


def test_summary_csv_gives_mean_and_std_over_seeds(tmp_path: Path) -> None:
    """report/summary.csv: one row per spec, mean and sample std of the seeds' mIoU."""

    rows = [
        {"spec": "a", "task": "segmentation", "status": "ok", "seed": s, "miou": m,
         "pixel_acc": 0.9, "params": 10, "gflops": 1.0, "latency_ms": 1.0}
        for s, m in ((0, 0.5), (1, 0.7))
    ]  # fmt: skip
    written = write_report(pd.DataFrame(rows), tmp_path / "report")
    summary = pd.read_csv(written["summary.csv"])
    assert list(summary["spec"]) == ["a"] and summary["seeds"].iloc[0] == 2
    assert summary["miou"].iloc[0] == pytest.approx(0.6)
    # sample std of {0.5, 0.7}: sqrt(((0.1)^2 + (0.1)^2) / 1) = 0.1414...
    assert summary["miou_std"].iloc[0] == pytest.approx(2**0.5 / 10)
