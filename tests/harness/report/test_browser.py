"""report.html in a real browser: it loads without console errors or broken images, and its
tables sort by the header clicked, numbers as numbers, missing values last."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmarks.report.content import ReportContent, Section
from benchmarks.report.html import render_html
from benchmarks.report.write import write_report
from benchmarks.store.layout import job_folder_name
from benchmarks.tasks.segmentation import SegmentationTask
from tests.harness.report import browser

TASK, METRIC = SegmentationTask.name, SegmentationTask.metrics[0].column
KEY = "0123456789abcdef"


def _run_with_a_strip(root: Path) -> tuple[Path, pd.DataFrame]:
    """A run of two specs, one of whose jobs left a predictions strip and a per-class
    table; its folder and its rows."""
    run = root / "run"
    job = run / "jobs" / job_folder_name("tiny", KEY)
    job.mkdir(parents=True)
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(job / "predictions.png")
    (job / "per_class.json").write_text(json.dumps([{"index": 0, "name": "bg", "value": 0.9}]))
    rows = [
        {"spec": "tiny", "spec_file": "tiny.yaml", "job_key": KEY, METRIC: 0.5, "gflops": 1.0},
        {"spec": "other", "spec_file": "o.yaml", "job_key": "f" * 16, METRIC: 0.6, "gflops": 2.0},
    ]
    return run, pd.DataFrame(rows).assign(task=TASK, status="ok", seed=0)


def test_the_report_loads_without_console_errors_or_broken_images(tmp_path: Path) -> None:
    run, rows = _run_with_a_strip(tmp_path)
    written = write_report(rows, run / "report", title="Browser check", run_dirs=[run])
    page = browser.load(written["report.html"], tmp_path / "profile")
    assert page.console == []
    assert browser.image_count(page.dom) == 1 and browser.broken_images(page.dom) == []
    assert "<title>Browser check</title>" in page.dom
    assert page.dom.count("<svg") == sum(1 for name in written if name.endswith(".svg"))
    assert page.dom.count('aria-sort="') == 0  # nothing sorted until a header is clicked


def test_the_checks_catch_console_errors_and_broken_images(tmp_path: Path) -> None:
    faulty = tmp_path / "faulty.html"
    faulty.write_text(
        '<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA">'
        "<script>console.error('boom'); notDefined();</script></body></html>",
        encoding="utf-8",
    )
    page = browser.load(faulty, tmp_path / "profile")
    assert len(page.console) == 2 and "boom" in page.console[0]
    assert "notDefined" in page.console[1]
    assert len(browser.broken_images(page.dom)) == 1


def test_ci_fails_instead_of_skipping_without_a_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no browser there
    monkeypatch.setenv(browser.REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match=browser.REQUIRE):
        browser.browser()
    monkeypatch.delenv(browser.REQUIRE)
    with pytest.raises(pytest.skip.Exception):
        browser.browser()


HEADERS = ["Spec", "Size", "Throughput (img/s)", "mIoU", "Pareto"]
ROWS = [
    ["seg_10", "128x128", "1,269.0", "0.950 ± 0.007", "✓"],
    ["seg_2", "64x64", "574.5", "–", ""],
    ["alpha", "96x96", "2,174.0", "0.823", "✓"],
    ["beta", "64x64", "–", "0.900 ± 0.010", ""],
]
# Worked by hand, each click on the order the one before it left (ties keep that order):
CLICKS = [
    ("Throughput (img/s)", "ascending", "seg_2 seg_10 alpha beta"),  # 574.5 < 1269 < 2174
    ("Throughput (img/s)", "descending", "alpha seg_10 seg_2 beta"),  # missing stays last
    ("mIoU", "ascending", "alpha beta seg_10 seg_2"),  # 0.823 < 0.900 < 0.950, then –
    ("mIoU", "descending", "seg_10 beta alpha seg_2"),
    ("Size", "ascending", "beta seg_2 alpha seg_10"),  # 64 (beta first now), 64, 96, 128
    ("Spec", "ascending", "alpha beta seg_2 seg_10"),  # natural: 2 before 10
    ("Pareto", "ascending", "alpha seg_10 beta seg_2"),  # ✓ rows, then the empty ones
]
CLICKER = """<script>
(function () {
  var table = document.querySelector("table.sortable"), out = [];
  function header(name) {
    return Array.prototype.find.call(table.tHead.rows[0].cells, function (th) {
      return th.textContent === name; });
  }
  NAMES.forEach(function (name) {
    header(name).click();
    var specs = Array.prototype.map.call(table.tBodies[0].rows, function (row) {
      return row.cells[0].textContent; });
    out.push(name + "|" + header(name).getAttribute("aria-sort") + "|" + specs.join(" "));
  });
  var pre = document.createElement("pre");
  pre.id = "sorted";
  pre.textContent = out.join("\\n");
  document.body.appendChild(pre);
})();
</script></body>"""


def test_tables_sort_by_the_clicked_header(tmp_path: Path) -> None:
    content = ReportContent(sections=[Section("Table", headers=HEADERS, rows=ROWS)])
    html = render_html("Sorting", content)
    names = json.dumps([name for name, _, _ in CLICKS])
    page = tmp_path / "sort.html"
    page.write_text(html.replace("</body>", CLICKER.replace("NAMES", names)), encoding="utf-8")
    loaded = browser.load(page, tmp_path / "profile")
    assert loaded.console == []
    found = loaded.dom.split('<pre id="sorted">', 1)[1].split("</pre>", 1)[0]
    assert found.splitlines() == [f"{name}|{way}|{order}" for name, way, order in CLICKS]
