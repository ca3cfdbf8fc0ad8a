"""``graphspec search``: objectives, the front's rule, and whole searches on tiny trials.

The front is checked against a hand-worked table and, on a real search, against a brute
force over the written trials.csv; an invalid combination (tied weights with concatenated
skips: each value alone is valid) is a pruned trial with the compiler's reason; a re-run
with a larger ``--trials`` continues the same study without training finished trials
again; a run folder of another question is refused; two processes share one study.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.search.front import front_mask
from benchmarks.search.objectives import Objective, ObjectiveError, parse_objectives
from benchmarks.tasks.segmentation import SegmentationTask
from compiler import compile_graph
from graphspec import load_spec, totals
from graphspec.cli import main
from tests import SPECS

pytestmark = pytest.mark.slow

KNOBS = """
budget: {max_params: 20000}
search:
  layer.conv2.out: [8, 32, 64]
  decoder.upsample: [unpool, tied]
  decoder.skips: [none, concat]
"""
TINY = ["--epochs", "3", "--limit", "32", "--batch-size", "8", "--image-size", "32x32"]
TINY += ["--threads", "1", "--device", "cpu", "--no-report", "--population", "4"]


def test_objectives_name_a_column_and_a_direction() -> None:
    parsed = parse_objectives("miou:max, latency_ms:min", SegmentationTask)
    assert parsed == [Objective("miou", "max"), Objective("latency_ms", "min")]
    assert parsed[1].timed and not parsed[0].timed
    with pytest.raises(ObjectiveError, match="records no column 'map'"):
        parse_objectives("map:max", SegmentationTask)
    with pytest.raises(ObjectiveError, match="needs a direction"):
        parse_objectives("miou", SegmentationTask)


def test_the_front_keeps_off_what_the_report_keeps_off() -> None:
    objectives = [Objective("miou", "max"), Objective("gflops", "min")]
    rows = [  # trial: miou, gflops, state, feasible, learned, same_as
        (0, 0.50, 1.0, "complete", True, True, None),  # on: best per gflops below 2
        (1, 0.40, 1.0, "complete", True, True, None),  # dominated by 0
        (2, 0.70, 2.0, "complete", True, True, None),  # on: the best miou
        (3, 0.90, 0.5, "complete", False, True, None),  # over budget: off, dominates nothing
        (4, 0.95, 0.5, "complete", True, False, None),  # learned nothing: off
        (5, 0.70, 2.0, "complete", True, True, 2.0),  # a repeat of trial 2: listed once
        (6, np.nan, np.nan, "pruned", True, None, None),
        (7, 0.30, 0.2, "complete", True, True, None),  # on: the cheapest
    ]
    columns = ["trial", "miou", "gflops", "state", "feasible", "learned", "same_as"]
    table = pd.DataFrame(rows, columns=columns).assign(timing_noisy=None)
    on = front_mask(table, objectives)
    assert table["trial"][on].tolist() == [0, 2, 7]


def _spec(tmp_path: Path) -> Path:
    spec = tmp_path / "tiny.yaml"
    spec.write_text((SPECS / "tiny-encoder.yaml").read_text() + KNOBS)
    return spec


def _search(spec: Path, out: Path, trials: int, *extra: str) -> int:
    return main(["search", str(spec), "--out", str(out), "--trials", str(trials), *TINY, *extra])


def test_a_search_prunes_writes_its_front_and_continues(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path), tmp_path / "run"
    assert _search(spec, out, 6) == 0
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) >= 6
    pruned = trials[(trials["state"] == "pruned") & trials["same_as"].isna()]
    combos = trials[(trials["decoder.upsample"] == "tied") & (trials["decoder.skips"] == "concat")]
    assert set(combos["state"]) <= {"pruned"}
    for reason in pruned["reason"]:
        assert "concat" in reason and "trial-" in reason  # the compiler's line in the trial file
    for path in trials[trials["same_as"].isna()]["spec_file"]:
        text = Path(path).read_text()
        assert "search:" not in text and "budget:" not in text and "name: tiny-encoder-t" in text
    done = trials[(trials["state"] == "complete") & trials["same_as"].isna()]
    for _, trial in trials[trials["state"] == "complete"].iterrows():  # the budget, by hand
        params = totals(compile_graph(load_spec(trial["spec_file"]), check_budget=False)).params
        assert trial["feasible"] == (params <= 20000)
        assert ("OVER BUDGET" in str(trial["flags"])) == (params > 20000)
    front = pd.read_csv(out / "pareto.csv")
    eligible = done[done["feasible"] & (done["learned"] != False)]  # noqa: E712
    points = eligible[["miou", "gflops"]].to_numpy(float) * [1, -1]  # both maximised
    expected = {
        int(t)
        for k, t in enumerate(eligible["trial"])
        if not np.any(np.all(points >= points[k], axis=1) & np.any(points > points[k], axis=1))
    }
    assert set(front["trial"]) == expected
    rows_before = len(pd.read_csv(out / "results.csv"))
    assert _search(spec, out, 8) == 0
    again = pd.read_csv(out / "trials.csv")
    assert len(again) >= 8 and again.head(len(trials))["trial"].tolist() == trials["trial"].tolist()
    benched_now = (again["state"] == "complete") & again["same_as"].isna()
    new_rows = len(pd.read_csv(out / "results.csv")) - rows_before
    assert new_rows == int(benched_now.sum()) - len(done)  # finished trials were not re-run
    report = out / "report"
    assert (report / "search_front.png").stat().st_size and (
        report / "search_knobs.svg"
    ).stat().st_size


def test_a_folder_of_another_question_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, out = _spec(tmp_path), tmp_path / "run"
    assert _search(spec, out, 1) == 0
    assert json.loads((out / "search.json").read_text())["objectives"] == [
        "miou:max",
        "gflops:min",
    ]
    capsys.readouterr()
    assert _search(spec, out, 2, "--objectives", "miou:max,params:min") == 2
    assert "other objectives" in capsys.readouterr().err
    assert _search(spec, out, 2, "--objectives", "map:max") == 2


def test_two_processes_share_one_study(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path), tmp_path / "run"
    assert _search(spec, out, 1) == 0  # the study exists before the workers start
    command = [sys.executable, "-m", "graphspec.cli", "search", str(spec), "--out", str(out)]
    command += ["--trials", "5", *TINY, "--quiet"]
    workers = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    trials = pd.read_csv(out / "trials.csv")
    assert trials["trial"].is_unique and (trials["state"] != "running").all()
    assert len(trials) >= 5
