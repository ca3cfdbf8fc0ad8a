"""The GPU suite, dry-run on this CPU machine, and its pieces on hand-made inputs.

The suite runs once on a lent GPU with no second try, so everything it does before CUDA is
involved runs here: ``benchmarks/gpu_suite.sh`` in quick mode must exit 0, list every part
in ``summary.md``, say "skipped: no CUDA" for the GPU parts after their CPU dry runs passed,
and have really timed training steps in all three modes. torchvision does not import here,
so its adapters run against a stand-in with torchvision's calling conventions.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from benchmarks.tools.gpu_suite import env, records, summary, wheel_list
from benchmarks.tools.gpu_suite.deadline import Deadline
from benchmarks.tools.gpu_suite.measure import QUICK_POLICY, inference, train_step
from benchmarks.tools.gpu_suite.modes import COMPILED, MODES
from benchmarks.tools.gpu_suite.schedule import Plan, Recorder, run_plan
from benchmarks.tools.gpu_suite.spec_timing import SPECS
from benchmarks.tools.gpu_suite.subjects import spec_subject
from benchmarks.tools.gpu_suite.timing_table import joined, render
from benchmarks.tools.gpu_suite.tv_subjects import tv_subject
from benchmarks.tools.gpu_suite.tv_timing import with_ratios
from tests import REPO

CPU = torch.device("cpu")
GPU_PARTS = ("2", "3", "5", "6", "8")


def _status_cells(summary_md: str) -> dict[str, str]:
    """Part number -> status cell of summary.md's table of parts."""
    cells = {}
    for line in summary_md.splitlines():
        match = re.match(r"\| (\d) \| [^|]+ \| (.+?) \| [^|]* \| [^|]+ \|$", line)
        if match:
            cells[match.group(1)] = match.group(2)
    return cells


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, str]:
    """``gpu_suite.sh`` in quick mode on this machine: (exit status, out folder, output)."""
    if torch.cuda.is_available():
        pytest.skip("the dry run is the no-CUDA path")
    out = tmp_path_factory.mktemp("suite")
    environ = os.environ | {
        "PYTHON": sys.executable,
        "GPU_SUITE_QUICK": "1",
        "GPU_SUITE_SITE": str(out / "site"),
        "GPU_SUITE_WHEELS": str(out / "no-wheels"),
        "GPU_SUITE_EDITABLE": "0",  # never pip-install into the environment under test
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_suite.sh"), str(out / "out")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return done.returncode, out / "out", done.stdout + done.stderr


@pytest.mark.slow
def test_dry_run_exits_0_and_summarises_every_part(dry_run: tuple[int, Path, str]) -> None:
    rc, out, output = dry_run
    assert rc == 0, output[-3000:]
    cells = _status_cells((out / "summary.md").read_text())
    assert sorted(cells) == [str(n) for n in range(1, 9)], cells
    for number in GPU_PARTS:
        assert cells[number].startswith("skipped: no CUDA"), (number, cells[number])
    for number in ("3", "5", "8"):  # their code ran on the CPU first
        assert cells[number].endswith("CPU dry run ok"), (number, cells[number])
    assert cells["1"] == "ok" and cells["7"].startswith("ok")
    assert cells["4"].startswith("skipped: quick mode")


@pytest.mark.slow
def test_dry_run_timed_training_in_every_mode(dry_run: tuple[int, Path, str]) -> None:
    _, out, _ = dry_run
    rows = records.read(out / "spec_timing.jsonl")
    assert not [row for row in rows if row.get("error")]
    trained = {(row["subject"], row["mode"]) for row in rows if row.get("train_ms")}
    assert trained == {(s, m.name) for s in ("unet-small", "ssd-small") for m in MODES}
    assert all(row["latency_ms"] > 0 for row in rows if row["kind"] == "infer")
    unpool = (out / "unpool.md").read_text()
    assert "graphspec (sum)" in unpool and "F.max_unpool2d" in unpool


def test_every_dependency_is_in_the_gpu_image_or_carried() -> None:
    """Part 1 checks what pyproject.toml names, and wheels.sh carries what the image lacks
    (Optuna and its SQL libraries, pydantic and its core, pycocotools), never torch."""
    pytest.importorskip("tomllib")  # Python 3.11+
    required = env.required()
    assert {"torch", "pydantic", "pycocotools"} <= set(required)
    assert required["pyyaml"] == "yaml" and required["pillow"] == "PIL"
    wheels = wheel_list.carried(wheel_list.project_requirements())
    assert all(name in wheel_list.IMAGE or name in wheels for name in required)
    assert {"pydantic-core", "typing-extensions"} <= set(wheels)
    assert not {"torch", "numpy", "pyyaml"} & set(wheels)


def test_summary_quotes_a_failed_parts_last_line_and_counts_missing_parts(
    tmp_path: Path,
) -> None:
    (tmp_path / "status").mkdir()
    (tmp_path / "status" / "1-install").write_text("state=ok\nseconds=3\n")
    (tmp_path / "status" / "3-crosscheck").write_text("state=failed\nrc=1\n")
    (tmp_path / "3-crosscheck.log").write_text("working\nnms iou 0.5 | differs\n\n")
    (tmp_path / "status" / "5-spec-timing").write_text(
        "state=skipped\nreason=no CUDA\ndry=exit 1\n"
    )
    (tmp_path / "status" / "6-tv-timing").write_text("state=timeout\ncap=90\n")
    failures = summary.write_summary(tmp_path)
    cells = _status_cells((tmp_path / "summary.md").read_text())
    assert cells["1"] == "ok"
    assert cells["3"] == "failed (exit 1): nms iou 0.5 \\| differs"
    assert cells["5"].startswith("skipped: no CUDA; CPU dry run failed (exit 1)")
    assert cells["6"].startswith("failed (timed out after 90 s)")
    assert cells["2"] == "failed: did not run"
    assert failures == 7  # 2, 4, 7, 8 never ran; 3, 5, 6 failed


def test_records_survive_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    records.append(path, {"a": 1.23456})
    path.write_text(path.read_text() + '{"a": ')  # the writer was killed mid-line
    assert records.read(path) == [{"a": 1.23456}]
    assert records.cell(1.23456) == "1.23" and records.cell(None) == "-"


def _fake_torchvision() -> Any:
    """torchvision's two constructors, with its calling conventions, on tiny networks."""

    class Backbone(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=8)

        def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
            return OrderedDict([("0", self.conv(x))])

    class Head(nn.Module):
        def __init__(self, classes: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4 + classes, 1)

        def forward(self, features: list[Tensor]) -> dict[str, Tensor]:
            out = self.conv(features[0]).flatten(2).transpose(1, 2)
            return {"bbox_regression": out[..., :4], "cls_logits": out[..., 4:]}

    class SSD(nn.Module):
        def __init__(self, num_classes: int) -> None:
            super().__init__()
            self.backbone, self.head = Backbone(), Head(num_classes)

        def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]]) -> dict:
            assert self.training and all(t["boxes"].shape[1] == 4 for t in targets)
            out = self.head(list(self.backbone(torch.stack(images)).values()))
            return {"reg": out["bbox_regression"].abs().mean(), "cls": out["cls_logits"].mean()}

    def vgg16(weights: None, num_classes: int) -> nn.Module:
        assert weights is None
        return nn.Sequential(
            nn.Conv2d(3, 4, 3, stride=8),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4, num_classes),
        )

    def ssd300_vgg16(weights: None, weights_backbone: None, num_classes: int) -> nn.Module:
        assert weights is None and weights_backbone is None
        return SSD(num_classes)

    return SimpleNamespace(
        models=SimpleNamespace(vgg16=vgg16, detection=SimpleNamespace(ssd300_vgg16=ssd300_vgg16))
    )


@pytest.mark.parametrize(("model", "spec"), [("vgg16", "vgg16"), ("ssd300_vgg16", "ssd300-vgg16")])
def test_torchvision_subjects_train_compile_and_infer(
    model: str, spec: str, one_thread: None
) -> None:
    paired = spec_subject(SPECS / f"{spec}.yaml", 2, CPU)
    subject = tv_subject(_fake_torchvision(), model, paired, 20)
    assert subject.batch is paired.batch and subject.name == f"tv {model}"
    for mode in (MODES[0], COMPILED):  # the compiled mode with Dynamo's eager backend
        timed = train_step(subject, mode, CPU, QUICK_POLICY, backend="eager")
        assert timed["train_ms"] > 0 and timed["loss_finite"]
    assert inference(subject, MODES[0], CPU, QUICK_POLICY, 2)["latency_ms"] > 0


def test_ratios_divide_graphspec_by_torchvision_in_the_same_mode() -> None:
    graphspec = [{"subject": "vgg16", "mode": "fp32", "kind": "train", "train_ms": 30.0}]
    rows = joined([{"subject": "tv vgg16", "mode": "fp32", "kind": "train", "train_ms": 20.0}])
    rows += joined([{"subject": "tv vgg16", "mode": "bf16+cl", "kind": "train", "train_ms": 9.0}])
    with_ratios(rows, graphspec)
    assert rows[0]["train gs/tv"] == pytest.approx(1.5)
    assert "train gs/tv" not in rows[1]  # no graphspec number in that mode


def test_a_spent_budget_skips_units_and_a_broken_spec_is_recorded(tmp_path: Path) -> None:
    def make(name: str) -> Any:
        if name == "broken":
            raise ValueError("no such spec\nmore")
        return spec_subject(SPECS / f"{name}.yaml", 2, CPU)

    recorder = Recorder(tmp_path / "t.jsonl", tmp_path / "t.md", "t", render)
    plan = Plan(["broken", "fcn-small"], make, CPU, QUICK_POLICY, eager_needs_s=1.0)
    failures = run_plan(plan, recorder, Deadline(0.0))
    rows = records.read(tmp_path / "t.jsonl")
    assert failures == 1 and rows[0]["error"] == "ValueError: no such spec"
    assert len(rows) == 6 and all(row["skipped"].startswith("time budget") for row in rows[1:])
    assert "train skipped: time budget" in (tmp_path / "t.md").read_text()
