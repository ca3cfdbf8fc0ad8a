"""A job never records a test metric that is no score as an ``ok`` row.

Before: a COCO test split without annotations gave an ``ok`` row with mAP -1.000
(pycocotools' "no ground truth" value) and an empty split gave NaN; both were charted and
could be named the winner. Now a split without ground truth fails the job when its data
is opened (before training), and a NaN or -1 test metric fails it after measuring.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import benchmarks.job.run as job_run
from benchmarks.job.run import UndefinedMetricError, check_defined
from benchmarks.store.settings import JobSettings
from benchmarks.sweep.orchestrate import SweepOptions, run_bench
from benchmarks.tasks.classification import ClassificationTask
from benchmarks.tasks.segmentation import SegmentationTask
from graphspec.cli import main
from tests import REPO, tiny_seg
from tests.harness.job.test_detection_coco import _write_split

pytestmark = pytest.mark.usefixtures("one_thread")


def test_check_defined_names_the_metric_and_why() -> None:
    segmentation = SegmentationTask(3)
    check_defined(segmentation, {"miou": 0.0, "pixel_acc": 1.0})  # 0 is a (bad) score
    check_defined(segmentation, {"miou": 0.5, "map": -1.0})  # map is not declared here
    with pytest.raises(UndefinedMetricError) as err:
        check_defined(segmentation, {"miou": 0.5, "pixel_acc": math.nan})
    assert str(err.value) == (
        "test pixel acc is nan (nothing was scored in the test split): not a score, so no ok "
        "row is recorded"
    )
    with pytest.raises(UndefinedMetricError) as err:
        check_defined(ClassificationTask(2), {"top1": -1.0})
    assert str(err.value) == (
        "test Top-1 is -1 (no ground truth in the test split): not a score, so no ok row is "
        "recorded"
    )
    with pytest.raises(UndefinedMetricError, match="test mIoU is inf"):
        check_defined(segmentation, {"miou": math.inf})


def test_a_coco_test_split_without_annotations_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "coco"
    _write_split(root, "train", 24, seed=0)
    _write_split(root, "val", 8, seed=1)  # the test split (COCO's val annotations)
    test_json = root / "annotations" / "instances_val.json"
    test_json.write_text(json.dumps({**json.loads(test_json.read_text()), "annotations": []}))
    out = tmp_path / "run"
    spec = REPO / "specs" / "ssd-small.yaml"
    expected = (
        f"DataError: {test_json}: the test split has no ground truth (8 images, none with a "
        "non-crowd box): its mAP would be undefined"
    )
    # The command line opens --data before any job: a usage error, nothing written.
    args = ["bench", str(spec), "--out", str(out), "--data", f"coco:{root}", "--epochs", "1"]
    assert main([*args, "--quiet", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected.split(": ", 1)[1] in err
    assert not out.exists()
    # A job whose data breaks after the sweep started fails the same way, before training.
    settings = JobSettings(data=f"coco:{root}", epochs=1)
    run_bench([spec], SweepOptions(out=out, settings=settings, report=False, progress=False))
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["status"] == "failed"
    assert row["error"] == expected
    job_dir = next((out / "jobs").iterdir())
    assert not (job_dir / "history.csv").exists() and not (job_dir / "best.pt").exists()


def test_a_nan_test_metric_fails_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The test split scores nothing (as an empty one would): mIoU and pixel accuracy NaN.
    def nothing_scored(*args: Any, **kwargs: Any) -> dict[str, float]:
        return {"miou": math.nan, "pixel_acc": math.nan}

    monkeypatch.setattr(job_run, "evaluate", nothing_scored)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(tiny_seg("tiny"))
    out = tmp_path / "run"
    args = ["bench", str(spec), "--out", str(out), "--epochs", "1", "--limit", "8"]
    assert main([*args, "--quiet", "--no-report"]) == 1
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["status"] == "failed"
    assert row["error"] == (
        "UndefinedMetricError: test mIoU is nan (nothing was scored in the test split): not a "
        "score, so no ok row is recorded"
    )
