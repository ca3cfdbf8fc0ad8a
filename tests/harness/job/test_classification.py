"""Classification in the harness: the shapes ``label``, its batching, the task's loss and
top-1 evaluator, ``task_for``, and the classifier-small reference spec."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.data import ShapesDataset, collate
from benchmarks.data.shapes import _largest_label
from benchmarks.tasks import task_for
from benchmarks.tasks.classification import ClassificationTask
from compiler import compile_graph
from graphspec import SpecError, load_spec, totals
from graphspec.cli import main
from tests import SPECS


def test_largest_label_counts_visible_pixels_and_breaks_ties_by_lower_class() -> None:
    # Object 1 (class 1) shows 3 pixels, object 0 (class 3) 2, object 2 (class 2) 1.
    owner = np.array([[-1, 0, 0], [1, 1, 1], [-1, -1, 2]])
    assert _largest_label(owner, [3, 1, 2]) == 0
    # Object 0 is drawn larger but object 1 covers most of it: visible area decides.
    owner = np.array([[1, 1, 1, 0], [1, 1, 1, -1]])
    assert _largest_label(owner, [4, 2]) == 1
    # A tie (2 pixels each): the lower class wins, whichever object came first.
    tie = np.array([[0, 0, 1, 1]])
    assert _largest_label(tie, [4, 2]) == 1
    assert _largest_label(tie, [2, 4]) == 1


def test_shapes_label_is_the_class_with_the_most_mask_pixels() -> None:
    k = 4
    ds = ShapesDataset("train", (64, 64), num_classes=k + 1, length=120, seed=3)
    checked, seen = 0, set()
    for i in range(len(ds)):
        item = ds[i]
        label = item["label"]
        assert label.dtype == torch.int64 and label.shape == ()
        seen.add(int(label))
        if len(set(item["labels"].tolist())) < len(item["labels"]):
            continue  # two objects of one class: per-class pixel counts are not per object
        counts = np.bincount(item["mask"].flatten().numpy(), minlength=k + 1)[1:]
        assert int(label) == int(np.argmax(counts))  # argmax takes the lowest index on ties
        checked += 1
    assert checked > 60
    assert seen == set(range(k))


def test_collate_stacks_labels_only_when_every_item_has_one() -> None:
    items = [ShapesDataset("val", (32, 32), length=3)[i] for i in range(3)]
    batch = collate(items)
    assert batch["label"].tolist() == [int(item["label"]) for item in items]
    for item in items:
        del item["label"]  # as VOC and COCO items come
    assert "label" not in collate(items)


def test_loss_is_the_mean_cross_entropy() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    batch = {"label": torch.tensor([0, 3])}
    first = -math.log(math.exp(2) / (math.exp(2) + 3))
    second = -math.log(1 / (math.e + 3))
    loss = ClassificationTask(4).loss(logits, batch)["loss"]
    assert loss.item() == pytest.approx((first + second) / 2, rel=1e-6)


def test_top1_and_its_sum_over_shards() -> None:
    logits = torch.eye(4)[[0, 1, 2, 3, 0]]  # predicts 0, 1, 2, 3, 0
    labels = torch.tensor([0, 1, 3, 3, 2])  # 3 of 5 right
    task = ClassificationTask(4)
    whole = task.evaluator()
    whole.update(logits, {"label": labels})
    assert whole.compute() == {"top1": 0.6}
    # Two ranks' shards, summed in place as all_reduce(SUM) does, give the same score.
    left, right = task.evaluator(), task.evaluator()
    left.update(logits[:2], {"label": labels[:2]})
    right.update(logits[2:], {"label": labels[2:]})
    left.state_tensors()[0] += right.state_tensors()[0]
    assert left.compute() == {"top1": 0.6}
    assert math.isnan(task.evaluator().compute()["top1"])


def test_bad_logits_or_a_batch_without_labels_say_what_is_wrong() -> None:
    task = ClassificationTask(4)
    with pytest.raises(ValueError, match=r"must be \[N, 4\], got \[2, 4, 3, 3\]"):
        task.loss(torch.zeros(2, 4, 3, 3), {"label": torch.zeros(2, dtype=torch.long)})
    with pytest.raises(ValueError, match="image-level 'label'"):
        task.loss(torch.zeros(2, 4), {"mask": torch.zeros(2, 3, 3)})


class _Data:
    """Stands in for a dataset: ``Task.check_data`` reads only its class count."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes


def test_task_for_classification_and_its_class_count() -> None:
    spec = load_spec(SPECS / "classifier-small.yaml")
    graph = compile_graph(spec)
    task = task_for(spec, graph)
    task.check_data(spec, _Data(5))  # 4 shape kinds + background
    assert isinstance(task, ClassificationTask) and task.num_classes == 4
    with pytest.raises(SpecError) as info:
        task.check_data(spec, _Data(21))  # VOC: 20 object classes
    text = (SPECS / "classifier-small.yaml").read_text().splitlines()
    assert info.value.line == text.index("classes: 4") + 1
    assert "expected 20" in info.value.message and "got 4" in info.value.message


def test_classifier_small_matches_torch() -> None:
    """The spec written out by hand in torch.nn: same output, parameters and FLOPs."""
    layers: list[nn.Module] = []
    for c_in, c_out in ((3, 16), (16, 32), (32, 64)):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers.append(nn.MaxPool2d(2, 2))
    layers += [nn.AvgPool2d(8, stride=1), nn.Flatten(), nn.Linear(64, 4)]
    model = nn.Sequential(*layers).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = model(torch.randn(1, 3, 64, 64))
    spec = load_spec(SPECS / "classifier-small.yaml")
    graph = compile_graph(spec)
    assert (spec.task, spec.classes) == ("classification", 4)
    assert graph[graph.output].shape == tuple(out.shape[1:]) == (4,)
    total = totals(graph)
    assert total.params == sum(p.numel() for p in model.parameters()) == 24_068
    assert total.flops == counter.get_total_flops()
    assert spec.budget is not None and total.params <= spec.budget.max_params
    assert total.gflops <= spec.budget.max_gflops
    # One parameter less than it needs exceeds the budget, reported at max_params.
    text = (SPECS / "classifier-small.yaml").read_text()
    tight = text.replace("max_params: 30000\n", f"max_params: {total.params - 1}\n")
    assert tight != text
    with pytest.raises(SpecError) as info:
        compile_graph(load_spec(tight))
    line = text.splitlines().index("  max_params: 30000") + 1
    assert (info.value.line, info.value.column, info.value.key_path) == (
        line,
        15,
        "budget.max_params",
    )


MAP_CLASSIFIER = """\
name: ends-in-a-map
task: classification
input: {channels: 3, height: 32, width: 32}
classes: 4
encoder:
  - stage: b1
    layers:
      - {op: conv, out: 4, kernel: 3, padding: 1}
      - {op: maxpool, kernel: 2, stride: 2}
"""


def test_bench_fails_a_classifier_that_ends_in_a_map_at_its_line(tmp_path: Path) -> None:
    spec = tmp_path / "ends-in-a-map.yaml"
    spec.write_text(MAP_CLASSIFIER)
    out = tmp_path / "run"
    args = ["bench", str(spec), "--out", str(out), "--epochs", "1", "--limit", "8", "--quiet"]
    assert main([*args, "--no-report"]) == 1
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["status"] == "failed"
    line = MAP_CLASSIFIER.splitlines().index("      - {op: maxpool, kernel: 2, stride: 2}") + 1
    assert f"{spec}:{line}:" in row["error"]
    assert "expected 4, got 4x16x16" in row["error"]
