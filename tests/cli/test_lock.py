"""``graphspec check --write-lock / --lock`` and the pre-commit hook definition.

The parameter counts below are worked out by hand from the spec's layers (conv weights
``in x out x k x k`` without bias, batchnorm ``2 x C``, the 1x1 head ``C x classes +
classes``), so they check the lock independently of graphspec's own counting.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from graphspec.cli import main
from tests import REPO

ROOT = REPO

SPEC = """\
# two conv-bn-relu-maxpool stages with a mirrored decoder
name: lock-test
task: segmentation
input: {channels: 3, height: 32, width: 32}
classes: 4
encoder:
  - stage: stage1
    layers:
      - {op: conv, out: 16, kernel: 3, padding: 1, bias: false, name: conv1}
      - {op: batchnorm}
      - {op: relu}
      - {op: maxpool, kernel: 2, stride: 2, name: pool1}
  - stage: stage2
    layers:
      - {op: conv, out: 32, kernel: 3, padding: 1, bias: false, name: conv2}
      - {op: batchnorm}
      - {op: relu}
      - {op: maxpool, kernel: 2, stride: 2, name: pool2}
decoder: {mirror: true, upsample: unpool, skips: none}
head: {type: segmentation}
"""


def _params(c1: int) -> int:
    """Hand count with conv1 giving ``c1`` channels: encoder conv1, bn, conv2, bn; the
    mirrored decoder conv2' (32 -> c1), bn, conv1' (c1 -> c1), bn; the 1x1 head."""
    encoder = 3 * c1 * 9 + 2 * c1 + c1 * 32 * 9 + 2 * 32
    decoder = 32 * c1 * 9 + 2 * c1 + c1 * c1 * 9 + 2 * c1
    return encoder + decoder + c1 * 4 + 4


def _write(folder: Path, name: str, text: str = SPEC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_hand_counts_match_the_worked_example() -> None:
    assert _params(16) == 432 + 32 + 4608 + 64 + 4608 + 32 + 2304 + 32 + 68 == 12_180
    assert _params(17) == 13_090


def test_write_lock_then_lock_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _write(tmp_path / "specs", "net.yaml")
    lock = tmp_path / "specs.lock.json"
    assert main(["check", "--write-lock", str(lock), str(spec)]) == 0
    data = json.loads(lock.read_text())
    entry = data["specs"]["specs/net.yaml"]
    assert entry["params"] == 12_180
    assert entry["outputs"] == [{"name": "head", "shape": [4, 32, 32]}]
    assert entry["default_boxes"] == 0
    assert list(data["specs"]) == sorted(data["specs"])
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    capsys.readouterr()
    assert main(["check", "--lock", str(lock), str(spec)]) == 0


def test_ssd_lock_records_default_boxes(tmp_path: Path) -> None:
    lock = tmp_path / "specs.lock.json"
    assert main(["check", "--write-lock", str(lock), str(ROOT / "specs" / "ssd-small.yaml")]) == 0
    (entry,) = json.loads(lock.read_text())["specs"].values()
    # ssd-small: 64x64 input, source maps 8x8, 4x4 and 2x2 with 4 boxes per cell (ratio 1
    # at two scales, 2 and 1/2); 3 classes + background scores, 4 box offsets
    boxes = 4 * (8 * 8 + 4 * 4 + 2 * 2)
    assert entry["default_boxes"] == boxes == 336
    assert entry["outputs"] == [
        {"name": "ssd_scores", "shape": [boxes, 4]},
        {"name": "ssd_offsets", "shape": [boxes, 4]},
    ]


def _drifted(tmp_path: Path) -> tuple[Path, Path]:
    spec = _write(tmp_path, "net.yaml")
    lock = tmp_path / "specs.lock.json"
    assert main(["check", "--write-lock", str(lock), str(spec)]) == 0
    spec.write_text(SPEC.replace("out: 16, kernel: 3", "out: 17, kernel: 3"))
    return spec, lock


def test_drift_fails_with_old_and_new_params(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, lock = _drifted(tmp_path)
    capsys.readouterr()
    assert main(["check", "--lock", str(lock), str(spec)]) == 1
    out = capsys.readouterr().out
    # `name:` is on line 2, column 1 of SPEC
    expected = f"{spec}:2:1: lock: params changed (expected {_params(16):,}, got {_params(17):,})"
    assert expected in out.splitlines()
    assert f"{spec}:2:1: lock: flops changed (expected " in out


def test_drift_as_github_annotation_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, lock = _drifted(tmp_path)
    capsys.readouterr()
    assert main(["check", "--lock", str(lock), "--format", "github", str(spec)]) == 1
    lines = capsys.readouterr().out.splitlines()
    head = f"::error file={spec},line=2,col=1::"
    assert any(
        line.startswith(head) and "params changed (expected 12,180" in line for line in lines
    )
    assert main(["check", "--lock", str(lock), "--format", "json", str(spec)]) == 1
    (result,) = json.loads(capsys.readouterr().out)["files"]
    messages = [d["message"] for d in result["lock"]]
    assert f"params changed (expected {_params(16):,}, got {_params(17):,})" in messages
    assert result["lock"][0]["line"] == 2


def test_spec_missing_from_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _write(tmp_path, "a.yaml")
    second = _write(tmp_path, "b.yaml", SPEC.replace("lock-test", "other"))
    lock = tmp_path / "specs.lock.json"
    assert main(["check", "--write-lock", str(lock), str(first)]) == 0
    capsys.readouterr()
    assert main(["check", "--lock", str(lock), str(first), str(second)]) == 1
    out = capsys.readouterr().out
    assert f"{second}:2:1: lock: not in {lock}" in out
    assert "--write-lock" in out
    assert f"{first}:2:1:" not in out


def test_unchecked_lock_entries_are_ignored_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _write(tmp_path, "a.yaml")
    second = _write(tmp_path, "b.yaml")
    lock = tmp_path / "specs.lock.json"
    assert main(["check", "--write-lock", str(lock), str(first), str(second)]) == 0
    assert main(["check", "--lock", str(lock), str(first)]) == 0
    second.unlink()
    assert main(["check", "--write-lock", str(lock), str(first)]) == 0
    assert list(json.loads(lock.read_text())["specs"]) == ["a.yaml"]


@pytest.mark.parametrize(
    "text", ["{not json", "[]", '{"version": 1, "specs": {"a.yaml": {"params": -1}}}']
)
def test_corrupt_lock_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    spec = _write(tmp_path, "net.yaml")
    lock = tmp_path / "specs.lock.json"
    lock.write_text(text)
    assert main(["check", "--lock", str(lock), str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"graphspec check: bad lock file {lock}: ")
    assert "\n" not in err


def test_missing_lock_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _write(tmp_path, "net.yaml")
    assert main(["check", "--lock", str(tmp_path / "none.json"), str(spec)]) == 2
    assert "file not found" in capsys.readouterr().err


def test_pre_commit_hook_definition() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "graphspec-check"]
    assert hook["entry"].startswith("graphspec check")
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    assert hook["files"] == r"\.(ya?ml)$"
