"""``graphspec report A B``: the reported repro of runs that differ only in ``--lr``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from graphspec.cli import main


@pytest.mark.usefixtures("one_thread")
def test_runs_differing_only_in_lr_stay_two_rows(
    tiny_seg_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tiny_seg_spec("fcn")
    common = ["--epochs", "1", "--limit", "8", "--batch-size", "4", "--quiet", "--no-report"]
    for lr, out in (("1e-3", "a"), ("1e-2", "b")):
        assert main(["bench", str(spec), "--lr", lr, "--out", str(tmp_path / out), *common]) == 0
    runs = [str(tmp_path / "a"), str(tmp_path / "a"), str(tmp_path / "b")]
    assert main(["report", *runs, "--out", str(tmp_path / "ab")]) == 0
    err = capsys.readouterr().err
    assert "note: 1 job(s) appear in more than one of the merged runs" in err
    summary = pd.read_csv(tmp_path / "ab" / "summary.csv")
    assert summary["spec"].tolist() == ["fcn", "fcn"]
    assert sorted(summary["lr"]) == [0.001, 0.01]
    report = (tmp_path / "ab" / "report.md").read_text()
    a, b = tmp_path / "a", tmp_path / "b"
    assert f"**Settings that differ between runs**: lr: 0.001 ({a}), 0.01 ({b})" in report
    assert "| fcn lr=0.001 |" in report and "| fcn lr=0.01 |" in report


def test_allow_noisy_reaches_the_report(
    tiny_seg_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``report --allow-noisy`` and ``bench --allow-noisy`` hand it to ``write_report``
    (through :class:`~benchmarks.sweep.orchestrate.SweepOptions` for bench)."""
    import benchmarks.report.write as report_write
    import benchmarks.sweep.orchestrate as orchestrate
    from benchmarks.sweep.orchestrate import BenchOutcome
    from benchmarks.sweep.runner import SweepSummary

    seen: list[bool] = []

    def write_report(*args: object, allow_noisy: bool = False, **kwargs: object) -> dict:
        seen.append(allow_noisy)
        return {"report.html": tmp_path / "report.html"}

    def run_bench(
        files: object, options: orchestrate.SweepOptions, **kwargs: object
    ) -> BenchOutcome:
        seen.append(options.allow_noisy)
        return BenchOutcome(SweepSummary())

    monkeypatch.setattr(report_write, "write_report", write_report)
    monkeypatch.setattr(orchestrate, "run_bench", run_bench)
    spec = str(tiny_seg_spec("noisy"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.csv").write_text("spec,status\nnoisy,ok\n")
    for extra in ([], ["--allow-noisy"]):
        assert main(["report", str(run), *extra]) == 0
        assert main(["bench", spec, "--out", str(tmp_path / "b"), "--quiet", *extra]) == 0
    assert seen == [False, False, True, True]
