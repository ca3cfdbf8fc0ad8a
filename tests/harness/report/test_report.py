"""Report: files written, Pareto column, failed-run section, self-contained HTML, merging."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.report.write import write_report
from benchmarks.store.read import merge_results


def _row(spec: str, task: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "spec": spec,
        "task": task,
        "status": "ok",
        "error": "",
        "params": 1.5e6,
        "gflops": np.nan,
        "latency_ms": 3.0,
        "latency_iqr_ms": 0.2,
        "throughput_ips": 300.0,
        "peak_mem_mb": 120.0,
        "train_s": 10.0,
        "epochs": 1,
        "image_size": 128,
        "device": "cpu",
        "dtype": "float32",
        "seed": 0,
        "miou": np.nan,
        "map": np.nan,
        "map50": np.nan,
        "spec_hash": f"h-{spec}",
    }
    row.update(values)
    return row


# Expected frontier (GFLOPs minimised, accuracy maximised), worked by hand:
#   segmentation: seg_a (1, 40) cheapest; seg_b and seg_d identical (2, 55) both kept;
#   seg_c (3, 50) dominated by seg_b; seg_e (8, 55.8) best; seg_nan has no mIoU.
#   detection: det_a (5, 20) and det_b (10, 30) kept; det_c (12, 28) dominated by det_b.
EXPECTED_FRONTIER = {"seg_a", "seg_b", "seg_d", "seg_e", "det_a", "det_b"}
OK_SPECS = {"seg_a", "seg_b", "seg_c", "seg_d", "seg_e", "seg_nan", "det_a", "det_b", "det_c"}


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _row("seg_a", "segmentation", gflops=1.0, miou=0.40),
            _row("seg_b", "segmentation", gflops=2.0, miou=0.55),
            _row("seg_c", "segmentation", gflops=3.0, miou=0.50),
            _row("seg_d", "segmentation", gflops=2.0, miou=0.55),
            _row("seg_e", "segmentation", gflops=8.0, miou=0.558, params=9e6),
            _row("seg_nan", "segmentation", gflops=1.5, miou=np.nan),
            _row("seg_fail", "segmentation", status="failed", error="Traceback\nOOMError: boom"),
            _row("det_a", "detection", gflops=5.0, map=0.20, map50=0.41),
            _row("det_b", "detection", gflops=10.0, map=0.30, map50=0.52, image_size=256),
            _row("det_c", "detection", gflops=12.0, map=0.28, map50=0.50),
            _row("det_fail", "detection", status="failed", error="SpecError: bad op"),
        ]
    )


@pytest.fixture(scope="module")
def report(results: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_report(results, tmp_path_factory.mktemp("report"), title="Test sweep")


def markdown_sections(text: str) -> dict[str, list[dict[str, str]]]:
    """Parse report.md into {heading: table rows as header->cell dicts}."""
    sections: dict[str, list[dict[str, str]]] = {}
    heading, header = "", None
    for line in text.splitlines():
        if line.startswith("## "):
            heading, header = line[3:], None
            sections[heading] = []
        elif line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if header is None:
                header = cells
            else:
                sections[heading].append(dict(zip(header, cells, strict=True)))
    return sections


def test_writes_png_and_svg_for_every_chart(report: dict[str, Path]) -> None:
    pngs = sorted(n for n in report if n.endswith(".png"))
    svgs = sorted(n for n in report if n.endswith(".svg"))
    # Per task: GFLOPs, latency and params charts; detection adds mAP@.5 vs GFLOPs.
    assert len(pngs) == 3 + 4
    assert [p[:-4] for p in pngs] == [s[:-4] for s in svgs]
    for name in pngs:
        assert report[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in svgs:
        assert "<svg" in report[name].read_text(encoding="utf-8")
    assert report["report.md"].is_file() and report["report.html"].is_file()


def test_every_ok_point_is_labelled_in_the_gflops_chart(report: dict[str, Path]) -> None:
    seg = report["segmentation_miou_vs_gflops.svg"].read_text(encoding="utf-8")
    for spec in ("seg_a", "seg_b", "seg_c", "seg_d", "seg_e"):
        assert f">{spec}<" in seg
    assert ">seg_nan<" not in seg  # no accuracy, so no point to label
    det = report["detection_map_vs_gflops.svg"].read_text(encoding="utf-8")
    # Two image sizes in detection: labels name the setting.
    for label in ("det_a 128px", "det_b 256px", "det_c 128px"):
        assert f">{label}<" in det


def test_pareto_column_flags_exactly_the_frontier(report: dict[str, Path]) -> None:
    sections = markdown_sections(report["report.md"].read_text(encoding="utf-8"))
    task_rows = [r for h, rows in sections.items() if not h.startswith("Failed") for r in rows]
    assert {r["Spec"] for r in task_rows} == OK_SPECS
    assert {r["Spec"] for r in task_rows if r["Pareto"] == "✓"} == EXPECTED_FRONTIER


def test_table_sorted_by_accuracy_with_formatted_numbers(report: dict[str, Path]) -> None:
    sections = markdown_sections(report["report.md"].read_text(encoding="utf-8"))
    seg = sections["Segmentation (mIoU)"]
    assert [r["Spec"] for r in seg][0] == "seg_e"
    assert [r["Spec"] for r in seg][-1] == "seg_nan"  # missing accuracy sorts last
    # Accuracy is a fraction with three decimals (it was percent with two before seeds).
    assert [r["mIoU"] for r in seg] == ["0.558", "0.550", "0.550", "0.500", "0.400", "–"]
    row_b = next(r for r in seg if r["Spec"] == "seg_b")
    assert row_b["Params (M)"] == "1.50"
    assert row_b["GFLOPs"] == "2.00"
    assert row_b["Latency (ms ± IQR)"] == "3.00 ± 0.20"
    det = sections["Detection (mAP@[.5:.95])"]
    assert [r["Spec"] for r in det] == ["det_b", "det_c", "det_a"]
    assert [r["mAP@.5"] for r in det] == ["0.520", "0.500", "0.410"]


def test_winner_line_names_best_and_cheapest_near_best(report: dict[str, Path]) -> None:
    text = report["report.md"].read_text(encoding="utf-8")
    winner = next(line for line in text.splitlines() if "Segmentation: best" in line)
    assert "**seg_e** at 0.558" in winner
    # seg_b / seg_d (0.550) are within 0.01 of 0.558 and cost 2 instead of 8 GFLOPs.
    assert re.search(r"\*\*seg_[bd]\*\* at 0\.550 with 2\.00 GFLOPs \(4\.0x less\)", winner)


def test_failed_runs_only_in_failed_section(report: dict[str, Path]) -> None:
    sections = markdown_sections(report["report.md"].read_text(encoding="utf-8"))
    failed = sections["Failed runs (2)"]
    assert {r["Spec"] for r in failed} == {"seg_fail", "det_fail"}
    errors = {r["Spec"]: r["Error"] for r in failed}
    assert errors == {"seg_fail": "OOMError: boom", "det_fail": "SpecError: bad op"}
    for heading, rows in sections.items():
        if not heading.startswith("Failed"):
            assert not {r["Spec"] for r in rows} & {"seg_fail", "det_fail"}
    html = report["report.html"].read_text(encoding="utf-8")
    failed_at = html.index("Failed runs")
    for spec in ("seg_fail", "det_fail"):
        assert html.index(spec) > failed_at


def test_html_is_self_contained_and_embeds_every_chart(report: dict[str, Path]) -> None:
    html = report["report.html"].read_text(encoding="utf-8")
    svgs = [n for n in report if n.endswith(".svg")]
    for name in svgs:
        assert f'data-chart="{name}"' in html
    assert html.count("<svg") == len(svgs)
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    for external in ("<link", 'src="http', "url(http", "<img", "<script src", "import("):
        assert external not in html
    # One inline script: it sorts the tables (tests/harness/report/test_browser.py).
    assert html.count("<script>") == html.count("<script") == 1
    # Every table sorts: segmentation, detection and the failed runs.
    assert html.count('<table class="sortable">') == html.count("<table") == 3
    assert "<script" not in report["report.md"].read_text(encoding="utf-8")
    assert "<title>Test sweep</title>" in html
    assert html.count("✓") == len(EXPECTED_FRONTIER) + 2  # cells plus one note per task
    assert "<strong>seg_e</strong>" in html


def test_markdown_references_every_png(report: dict[str, Path]) -> None:
    text = report["report.md"].read_text(encoding="utf-8")
    for name in (n for n in report if n.endswith(".png")):
        assert f"]({name})" in text


def test_no_ok_rows_reports_without_charts(tmp_path: Path) -> None:
    run_dir = tmp_path / "run7"
    run_dir.mkdir()
    failed = pd.DataFrame([_row("x", "segmentation", status="failed", error="boom")])
    failed.to_csv(run_dir / "results.csv", index=False)
    written = write_report(str(run_dir), tmp_path / "out")  # a run directory as a str path
    assert sorted(written) == ["report.html", "report.md", "summary.csv"]
    text = written["report.md"].read_text(encoding="utf-8")
    assert text.startswith("# Benchmark report: run7")
    assert "No successful runs" in text and "## Failed runs (1)" in text


def test_single_point_all_nan_and_missing_columns(tmp_path: Path) -> None:
    one_row = _row("only", "segmentation", gflops=2.0, miou=0.5, latency_ms=np.nan, params=None)
    single = write_report(pd.DataFrame([one_row]), tmp_path / "one")
    assert [n for n in single if n.endswith(".png")] == ["segmentation_miou_vs_gflops.png"]
    assert "**only** at 0.500" in single["report.md"].read_text(encoding="utf-8")

    all_nan = pd.DataFrame([_row(s, "segmentation", gflops=1.0) for s in ("p", "q")])
    written = write_report(all_nan, tmp_path / "nan")
    assert sorted(written) == ["report.html", "report.md", "summary.csv"]
    rows = markdown_sections(written["report.md"].read_text(encoding="utf-8"))
    assert [r["Pareto"] for r in rows["Segmentation (mIoU)"]] == ["", ""]

    minimal = pd.DataFrame({"spec": ["m1", "m2"], "miou": [0.3, 0.4], "gflops": [1.0, 2.0]})
    minimal["task"] = "segmentation"
    written = write_report(minimal, tmp_path / "min")
    assert [n for n in written if n.endswith(".png")] == ["segmentation_miou_vs_gflops.png"]
    rows = markdown_sections(written["report.md"].read_text(encoding="utf-8"))
    assert [
        (r["Spec"], r["Latency (ms ± IQR)"], r["Pareto"]) for r in rows["Segmentation (mIoU)"]
    ] == [
        ("m2", "–", "✓"),
        ("m1", "–", "✓"),
    ]


def _keyed(spec: str, seed: int = 0, **values: object) -> dict[str, object]:
    return _row(spec, "segmentation", seed=seed, job_key=f"k-{spec}-{seed}", **values)


def test_merge_prefers_parquet_and_reports_a_repeated_job_once(tmp_path: Path) -> None:
    first, second = tmp_path / "run1", tmp_path / "run2"
    first.mkdir()
    second.mkdir()
    pd.DataFrame([_keyed("a", miou=0.1), _keyed("b", miou=0.2)]).to_parquet(
        first / "results.parquet"
    )
    # A stale CSV next to the parquet file must be ignored.
    pd.DataFrame([_keyed("stale")]).to_csv(first / "results.csv", index=False)
    pd.DataFrame(
        [
            _keyed("b", miou=0.25),  # same job key as run1's b: the later run's row wins
            _keyed("b", seed=1, miou=0.3),  # another seed: another job
            _keyed("c", miou=0.4),
        ]
    ).to_csv(second / "results.csv", index=False)
    merged = merge_results([first, second])
    assert list(
        zip(merged.rows["spec"], merged.rows["seed"], merged.rows["miou"], strict=True)
    ) == [
        ("a", 0, 0.1),
        ("b", 0, 0.25),
        ("b", 1, 0.3),
        ("c", 0, 0.4),
    ]
    assert merged.notes == [
        "1 job(s) appear in more than one of the merged runs (same spec and settings): each "
        "is reported once, from the run listed last."
    ]


def test_merge_keeps_rows_without_a_job_key(tmp_path: Path) -> None:
    """A hand-made table has no keys to tell repeats by: every row is kept."""
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        pd.DataFrame([_row("a", "segmentation", miou=0.1)]).to_csv(
            tmp_path / name / "results.csv", index=False
        )
    merged = merge_results([tmp_path / "x", tmp_path / "y"])
    assert len(merged.rows) == 2 and merged.notes == []
