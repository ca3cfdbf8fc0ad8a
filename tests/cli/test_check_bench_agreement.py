"""``graphspec check`` accepts exactly the specs a one-step ``graphspec bench`` can run.

Each fixture in ``tests/fixtures/runnable`` is checked (exit code and the file:line:col the
first problem is reported at, both worked out by hand from the YAML) and then benchmarked
for one tiny epoch; check exit 0 must go with an ``ok`` results row and exit 1 with a
``failed`` one.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import pytest

from graphspec.cli import main
from graphspec.schema import Head
from graphspec.tasks import task_forms
from tests import FIXTURES

RUNNABLE = FIXTURES / "runnable"


@dataclass(frozen=True)
class Case:
    """A fixture and where ``check`` must report its first problem (None: runnable)."""

    fixture: str
    error_at: str | None


CASES = (
    Case("seg_ok", None),
    Case("seg_headless_ok", None),
    Case("det_ssd_ok", None),
    Case("det_yolo_ok", None),
    Case("cls_ok", None),
    # Head type value of `head: {type: ...}` on the head line, column 14.
    Case("det_seg_head", "10:14 head.type"),
    Case("cls_fcn_head", "10:14 head.type"),
    Case("default_task_seg_head", "9:14 head.type"),
    # Block-style head: `  type: ssd` on line 12, value at column 9.
    Case("seg_ssd_head", "12:9 head.type"),
    # No head at all: the task value, `task: detection` on line 3.
    Case("det_no_head", "3:7 task"),
    # Wrong output: the `- {op: ...}` item of the layer that makes it, column 9.
    Case("seg_low_res", "11:9 encoder[0].layers[2]"),
    Case("seg_wrong_channels", "9:9 encoder[0].layers[0]"),
    Case("cls_map_output", "9:9 encoder[0].layers[0]"),
    Case("seg_one_class", "5:10 classes"),
    # A decoder on a detection spec: the `decoder:` value on line 17, column 10.
    Case("det_decoder", "17:10 decoder"),
)


pytestmark = pytest.mark.usefixtures("one_thread")


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str | None]:
    """Exit code of ``graphspec check`` and ``line:col key`` of the first reported issue
    (text lines read ``FILE:LINE:COL: KEY: MESSAGE``; a valid file prints ``FILE: ok``)."""
    code = main(["check", str(path)])
    prefix = f"{path}:"
    lines = capsys.readouterr().out.splitlines()
    rests = [ln[len(prefix) :] for ln in lines if ln.startswith(prefix)]
    issues = [rest.split(": ", 2) for rest in rests if rest[:1].isdigit()]
    return code, (f"{issues[0][0]} {issues[0][1]}" if issues else None)


def _bench(path: Path, out: Path) -> dict[str, str]:
    """The results row of a one-epoch, four-image bench of ``path``."""
    main(
        [
            "bench",
            str(path),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--limit",
            "4",
            "--batch-size",
            "2",
            "--device",
            "cpu",
            "--no-report",
            "--quiet",
        ]
    )
    with (out / "results.csv").open(newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    return row


@pytest.mark.parametrize("case", CASES, ids=[c.fixture for c in CASES])
def test_check_and_bench_agree(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = RUNNABLE / f"{case.fixture}.yaml"
    code, where = _check(path, capsys)
    assert (code, where) == ((0, None) if case.error_at is None else (1, case.error_at))
    row = _bench(path, tmp_path / "run")
    assert row["status"] == ("ok" if code == 0 else "failed"), row.get("error")


def test_every_head_type_serves_the_tasks_listed_here() -> None:
    """A new head type must be given a task here, or check and bench would disagree on it."""
    head_types = {model.model_fields["type"].default for model in get_args(get_args(Head)[0])}
    owners = {h: [t for t, f in task_forms().items() if h in f.heads] for h in head_types}
    assert owners == {
        "segmentation": ["segmentation"],
        "fcn": ["segmentation"],
        "ssd": ["detection"],
        "yolo": ["detection"],
        "rcnn": ["detection", "instance"],  # with a mask branch: instance
        "classification": ["classification"],
    }
