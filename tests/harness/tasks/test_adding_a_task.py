"""Adding a task is one task class plus its data hooks (docs/adding-a-task.md).

The test follows the document: it declares a toy ``counting`` task (how many objects are in
an image, scored by the mean absolute count error, where lower is better) to the spec
language, adds its class to the harness's tasks, and runs ``graphspec bench`` and
``graphspec report`` on a spec that asks for it. The training loop, the results table,
seed folding, the winner line and the command line's summary read the task's
declarations; none of them was edited for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import benchmarks.tasks
from benchmarks import load_run
from benchmarks.data import Batch, make_dataset
from benchmarks.data.normalize import Normalization
from benchmarks.report.write import write_report
from benchmarks.tasks.base import Metric, Task
from compiler import GraphNet, compile_graph
from graphspec import Graph, Spec, SpecError, load_spec
from graphspec.cli import main
from graphspec.tasks import TaskForm, declare_task, forget_task

SPEC = """\
name: counter
task: counting
input: {channels: 3, height: 32, width: 32}
classes: 5
encoder:
  - stage: b1
    layers:
      - {op: conv, out: 8, kernel: 3, padding: 1}
      - {op: relu}
      - {op: maxpool, kernel: 2, stride: 2}
      - {op: adaptive_avgpool, size: 1}
      - {op: flatten}
      - {op: linear, out: classes}
"""


def _counts(batch: Batch, bins: int) -> Tensor:
    """The data hook: an image's object count, read from the boxes every dataset gives."""
    return torch.tensor([min(len(b), bins - 1) for b in batch["boxes"]])


class CountingEvaluator:
    """Sums of |predicted - true count| and exact hits, so ranks add them up."""

    def __init__(self, bins: int, device: Any) -> None:
        self.bins, self.sums = bins, torch.zeros(3, dtype=torch.int64, device=device)

    def update(self, predictions: Tensor, batch: Batch) -> None:
        guess, truth = predictions.argmax(dim=1).cpu(), _counts(batch, self.bins)
        self.sums += torch.tensor([(guess - truth).abs().sum(), (guess == truth).sum(), len(truth)])

    def state_tensors(self) -> list[Tensor]:
        return [self.sums]

    def compute(self) -> dict[str, float]:
        error, hits, seen = self.sums.tolist()
        return {"count_mae": error / seen, "count_acc": hits / seen}


class CountingTask(Task):
    """Count the objects of an image: a class per count, 0 .. classes - 1."""

    name = "counting"
    metrics = (
        Metric("count_mae", "count MAE", "Mean absolute count error", higher_is_better=False),
        Metric("count_acc", "exact count", "Exact count (fraction)"),
    )

    def __init__(self, bins: int) -> None:
        self.bins = bins

    @classmethod
    def for_spec(cls, spec: Spec, graph: Graph) -> CountingTask:
        return cls(spec.classes)

    @classmethod
    def data_classes(cls, spec: Spec) -> int:
        return 5  # the shapes data's 4 kinds + background: what is counted, not the bins

    def loss(self, model_output: Tensor, batch: Batch) -> dict[str, Tensor]:
        target = _counts(batch, self.bins).to(model_output.device)
        return {"loss": F.cross_entropy(model_output.float(), target)}

    def evaluator(self, device: Any = None) -> CountingEvaluator:
        return CountingEvaluator(self.bins, device)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Task]]:
    """Step 1 (the spec's side) and step 2 (the harness's), undone after the test."""
    declare_task(TaskForm("counting", heads=(None,), output="vector"))
    monkeypatch.setattr(benchmarks.tasks, "TASKS", (*benchmarks.tasks.TASKS, CountingTask))
    yield CountingTask
    forget_task("counting")
    with pytest.raises(SpecError, match="got 'counting'"):
        load_spec(SPEC)  # the schema is rebuilt without it


def test_unknown_before_it_is_added() -> None:
    with pytest.raises(SpecError, match=r"task: invalid value \(expected .*got 'counting'\)"):
        load_spec(SPEC)


def _by_hand(job: Path, spec: Path) -> tuple[float, float]:
    """A job's best weights scored on the test split in numpy: (count MAE, exact rate)."""
    config = json.loads((job / "config.json").read_text())
    norm = config["normalization"]
    normalization = Normalization(norm["name"], tuple(norm["mean"]), tuple(norm["std"]))
    net = GraphNet(compile_graph(load_spec(spec))).eval()
    net.load_state_dict(torch.load(job / "best.pt", weights_only=True))
    seed = config["settings"]["seed"]
    test = make_dataset("shapes", "test", (32, 32), seed=seed, num_classes=5)
    errors = []
    with torch.no_grad():
        for item in test:
            logits = net(normalization.apply(item["image"][None])).numpy()[0]
            errors.append(abs(int(np.argmax(logits)) - min(len(item["boxes"]), 4)))
    return float(np.mean(errors)), float(np.mean(np.asarray(errors) == 0))


@pytest.mark.usefixtures("one_thread")
def test_toy_task_benches_reports_and_ranks(
    counting: type[Task], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "counter.yaml").write_text(SPEC)
    run = tmp_path / "run"
    args = ["bench", str(tmp_path / "counter.yaml"), "--out", str(run), "--epochs", "2"]
    assert main([*args, "--limit", "32", "--batch-size", "8", "--seeds", "2"]) == 0
    lines = capsys.readouterr().err
    assert "counter: ok: count MAE" in lines and "exact count" in lines
    rows = pd.read_parquet(run / "results.parquet").sort_values("seed")
    assert rows["task"].tolist() == ["counting", "counting"]
    assert rows["count_mae"].dtype == float and rows["count_acc"].dtype == float
    # Each row is what its job's best weights score on the test split, recomputed by hand.
    for job in load_run(run).jobs:
        row = rows[rows["job_key"].str.startswith(job.name.rsplit("-", 1)[1])].iloc[0]
        mae, exact = _by_hand(job.dir, tmp_path / "counter.yaml")
        assert (row["count_mae"], row["count_acc"]) == pytest.approx((mae, exact))
    summary = pd.read_csv(run / "report" / "summary.csv")
    assert summary["count_mae"].iloc[0] == pytest.approx(rows["count_mae"].mean())
    report = (run / "report" / "report.md").read_text()
    assert "**Winner** – Counting: best mean count MAE is **counter**" in report
    assert "| Spec | Size | Device | count MAE | exact count | Seeds |" in report


def test_lower_is_better_ranks_the_winner_and_the_frontier(
    counting: type[Task], tmp_path: Path
) -> None:
    """Two specs at the same cost: the one with the smaller error wins and alone is on the
    Pareto frontier; a larger error at a lower cost is on it too."""
    rows = pd.DataFrame(
        [
            {"spec": "good", "task": "counting", "status": "ok", "count_mae": 0.5, "gflops": 2.0},
            {"spec": "bad", "task": "counting", "status": "ok", "count_mae": 1.5, "gflops": 2.0},
            {"spec": "cheap", "task": "counting", "status": "ok", "count_mae": 1.0, "gflops": 1.0},
        ]
    )
    report = write_report(rows, tmp_path / "r")["report.md"].read_text()
    assert "best mean count MAE is **good** at 0.500" in report
    table = [line for line in report.splitlines() if line.startswith("| good")]
    assert table and table[0].rstrip().endswith("| ✓ |")
    order = [line.split("|")[1].strip() for line in report.splitlines() if "| 2.00 |" in line]
    assert order == ["good", "bad"]  # the smaller error first
    bad = next(line for line in report.splitlines() if line.startswith("| bad"))
    assert not bad.rstrip().endswith("| ✓ |")
