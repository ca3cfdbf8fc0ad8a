"""``graphspec.lock``: lock entries, the file format, drift messages and crash-safe writes.

The expected entries come from ``specs/tiny-encoder.yaml`` worked out by hand (see
:func:`_tiny_encoder_params`), and the expected file text is written out literally, so
neither is computed by the module under test.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import graphspec.atomic
from compiler import compile_graph
from graphspec import load_spec
from graphspec.atomic import WriteError
from graphspec.lock import (
    LockEntry,
    LockFileError,
    LockRun,
    drifts,
    entry_of,
    format_lock,
    lock_key,
    read_lock,
    write_lock,
)
from tests import SPECS

ONE = LockEntry(params=10, flops=1_234_567, outputs=(("head", (4, 8, 8)),))
TWO = LockEntry(
    params=7, flops=8, outputs=(("scores", (6, 3)), ("offsets", (6, 4))), default_boxes=6
)

TEXT = """\
{
  "specs": {
    "a.yaml": {
      "default_boxes": 0,
      "flops": 1234567,
      "outputs": [{"name": "head", "shape": [4, 8, 8]}],
      "params": 10
    },
    "sub/b.yaml": {
      "default_boxes": 6,
      "flops": 8,
      "outputs": [{"name": "scores", "shape": [6, 3]}, {"name": "offsets", "shape": [6, 4]}],
      "params": 7
    }
  },
  "version": 1
}
"""


def _tiny_encoder_params() -> int:
    """tiny-encoder.yaml: conv1 3->16 3x3 no bias, bn(16), conv2 16->32 3x3 no bias,
    bn(32); the mirrored decoder (bias-free like the convs it mirrors) conv2' 32->16,
    bn(16), conv1' 16->16, bn(16); the 1x1 head 16->4 with bias."""
    encoder = 3 * 16 * 9 + 2 * 16 + 16 * 32 * 9 + 2 * 32
    decoder = 32 * 16 * 9 + 2 * 16 + 16 * 16 * 9 + 2 * 16
    return encoder + decoder + 16 * 4 + 4


def test_format_is_sorted_with_one_field_a_line() -> None:
    assert format_lock({"sub/b.yaml": TWO, "a.yaml": ONE}) == TEXT
    assert format_lock({}) == '{\n  "specs": {},\n  "version": 1\n}\n'


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "specs.lock.json"
    write_lock(path, {"a.yaml": ONE, "sub/b.yaml": TWO})
    assert path.read_text(encoding="utf-8") == TEXT
    assert read_lock(path) == {"a.yaml": ONE, "sub/b.yaml": TWO}
    assert [p.name for p in tmp_path.iterdir()] == ["specs.lock.json"]


def test_failed_write_keeps_the_old_lock_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "specs.lock.json"
    path.write_text("the old lock\n", encoding="utf-8")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(graphspec.atomic.os, "replace", full_disk)
    with pytest.raises(WriteError) as caught:
        write_lock(path, {"a.yaml": ONE})
    assert str(caught.value) == f"cannot write {path}: No space left on device"
    assert path.read_text(encoding="utf-8") == "the old lock\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["specs.lock.json"]


def test_entry_of_a_compiled_spec() -> None:
    graph = compile_graph(load_spec(SPECS / "tiny-encoder.yaml"))
    entry = entry_of(graph)
    assert entry.params == _tiny_encoder_params() == 12_180
    assert entry.outputs == (("head", (4, 64, 64)),)
    assert entry.default_boxes == 0


def test_drifts_name_each_changed_field() -> None:
    new = LockEntry(params=12, flops=1_234_567, outputs=(("head", (5, 8, 8)),))
    assert drifts(ONE, new) == [
        "params changed (expected 10, got 12)",
        "outputs changed (expected head [4, 8, 8], got head [5, 8, 8])",
    ]
    assert drifts(ONE, ONE) == []


def test_lock_key_is_relative_to_the_lock_folder(tmp_path: Path) -> None:
    spec = tmp_path / "specs" / "net.yaml"
    assert lock_key(spec, tmp_path / "specs.lock.json") == "specs/net.yaml"
    assert lock_key(spec, tmp_path / "ci" / "specs.lock.json") == "../specs/net.yaml"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON ("),
        ("[]", 'expected an object with a "specs" object'),
        ('{"version": 2, "specs": {}}', "expected version 1, got 2"),
        (
            '{"version": 1, "specs": {"a.yaml": {"params": -1, "flops": 0, "outputs": []}}}',
            "specs['a.yaml'].params: expected a non-negative integer, got -1",
        ),
    ],
)
def test_read_lock_reasons(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "lock.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LockFileError) as caught:
        read_lock(path)
    assert str(caught.value).startswith(reason)


def test_missing_lock() -> None:
    with pytest.raises(LockFileError, match=r"^file not found \(create it with --write-lock\)$"):
        LockRun.compare(Path("no/such/lock.json"))
    assert LockRun.record(Path("no/such/lock.json")).recorded == {}


def test_run_records_then_reports_drift(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text((SPECS / "tiny-encoder.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    lock = tmp_path / "specs.lock.json"
    graph = compile_graph(load_spec(spec))
    run = LockRun.record(lock)
    assert run.observe(spec, graph) == []
    run.finish()
    assert read_lock(lock) == {"net.yaml": entry_of(graph)}
    stale = LockEntry(params=1, flops=entry_of(graph).flops, outputs=entry_of(graph).outputs)
    write_lock(lock, {"net.yaml": stale})
    (issue,) = LockRun.compare(lock).observe(spec, graph)
    assert (issue.location.line, issue.location.key_path) == (3, ("lock",))  # `name:` line
    assert issue.message == "params changed (expected 1, got 12,180)"
