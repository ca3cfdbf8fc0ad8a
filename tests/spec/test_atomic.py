"""graphspec.atomic: bounded names, temp files of long names, sweeping killed writers' temp
files."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from graphspec.atomic import (
    atomic_write_text,
    bounded_name,
    remove_stale_temp_files,
    remove_temp_files,
)


def test_a_short_name_is_kept_as_it_is() -> None:
    assert bounded_name("segnet-small", 100) == "segnet-small"
    assert bounded_name("a" * 100, 100) == "a" * 100  # exactly the limit


def test_a_long_name_is_cut_with_a_hash_of_the_whole() -> None:
    name = "s" * 300
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    assert bounded_name(name, 100) == "s" * 91 + "-" + digest  # 91 + 1 + 8 = 100 bytes
    other = "s" * 299 + "t"  # the same first 100 bytes
    assert bounded_name(other, 100) != bounded_name(name, 100)


def test_a_cut_never_splits_a_character() -> None:
    name = "é" * 100  # 2 bytes each
    cut = bounded_name(name, 50, sep="~")
    head, digest = cut.split("~")
    assert head == "é" * 20  # 41 bytes of budget hold 20 whole characters
    assert digest == hashlib.sha256(name.encode()).hexdigest()[:8]
    assert len(cut.encode()) <= 50


def test_a_file_with_a_long_name_is_written(tmp_path: Path) -> None:
    # 250 bytes: a valid name, but ".NAME.XXXXXXXX.tmp" (264 bytes) was "File name too long".
    path = tmp_path / ("n" * 246 + ".csv")
    atomic_write_text(path, "a,b\n")
    assert path.read_text() == "a,b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_stale_temp_files_of_a_long_or_odd_name_are_found(tmp_path: Path) -> None:
    for name in ("n" * 246 + ".csv", "runs [1].csv"):
        path = tmp_path / name
        prefix = "." + bounded_name(name, 200) + "."
        stale = tmp_path / f"{prefix}abcd1234.tmp"
        stale.write_text("half")
        other = tmp_path / ".other.csv.abcd1234.tmp"
        other.write_text("another file's")
        remove_stale_temp_files(path)
        assert not stale.exists(), name
        assert other.exists()


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_remove_temp_files_spares_young_ones_and_other_files(tmp_path: Path) -> None:
    old = tmp_path / ".report.html.k2j_9x0a.tmp"
    young = tmp_path / ".report.md.zz11yy22.tmp"
    kept = [tmp_path / "report.html", tmp_path / ".hidden.tmp", tmp_path / "x.ab12cd34.tmp"]
    for path in (old, young, *kept):
        path.write_text("x")
    _age(old, 3600)
    target = tmp_path / "elsewhere"
    target.write_text("not ours")
    link = tmp_path / ".link.png.abcdefgh.tmp"
    link.symlink_to(target)
    _age(young, 0)
    assert remove_temp_files(tmp_path, older_than_s=600) == [old]
    assert remove_temp_files(tmp_path) == [young]  # no age: every temp file
    assert all(p.exists() for p in kept) and link.is_symlink() and target.exists()
    assert remove_temp_files(tmp_path / "missing") == []


def test_remove_temp_files_in_a_read_only_folder_is_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished run resumed in a read-only folder: nothing can go, and nothing fails."""
    stale = tmp_path / ".a.csv.abcdefgh.tmp"
    stale.write_text("x")

    def refuse(path: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "unlink", refuse)
    assert remove_temp_files(tmp_path) == []
    monkeypatch.undo()
    assert stale.exists()
