"""protocol.json: collected from settings and environment, written atomically, read back."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from benchmarks.store.layout import PROTOCOL
from benchmarks.store.protocol import (
    Protocol,
    ProtocolError,
    collect_protocol,
    git_commit,
    read_protocol,
    write_protocol,
)
from benchmarks.store.settings import JobSettings

SETTINGS = {
    "data": "shapes",
    "epochs": 12,
    "patience": 3,
    "val_every": 2,
    "image_size": [96, 80],
    "batch_size": 8,
    "lr": "auto",
    "augment": False,
    "normalize": "imagenet",
    "device": "cpu",
    "threads": 3,
    "seed": 0,
}


def test_collects_settings_and_environment() -> None:
    protocol = collect_protocol(
        JobSettings.from_json(SETTINGS), train_images=40, val_images=10, test_images=20
    )
    assert (protocol.data, protocol.epochs, protocol.patience, protocol.val_every) == (
        "shapes",
        12,
        3,
        2,
    )
    assert (protocol.image_size, protocol.batch_size, protocol.lr) == ("96x80", 8, "auto")
    assert (protocol.augmentation, protocol.normalisation) == ("none", "imagenet")
    assert (protocol.train_images, protocol.val_images, protocol.test_images) == (40, 10, 20)
    assert (protocol.device, protocol.dtype, protocol.threads) == ("cpu", "fp32", 3)
    assert protocol.torch_version == torch.__version__
    assert protocol.graphspec_version == importlib.metadata.version("graphspec")
    assert protocol.date[:4].isdigit() and protocol.date.endswith("+00:00")
    assert protocol.load_avg is not None and len(protocol.load_avg) == 3
    assert protocol.load_avg[2] == pytest.approx(os.getloadavg()[2], abs=1.0)


def test_defaults_threads_and_image_size() -> None:
    protocol = collect_protocol(JobSettings(device="cuda", augment=True, image_size=None))
    assert protocol.threads == torch.get_num_threads()
    assert protocol.image_size == "spec default"
    assert protocol.dtype == "bf16"  # autocast on CUDA, as training does
    assert protocol.augmentation == "random flips"
    assert protocol.patience is None and protocol.train_images is None


@pytest.mark.skipif(shutil.which("git") is None, reason="no git on PATH")
def test_git_commit_inside_and_outside_a_repository(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == ""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("x", encoding="utf-8")
    names = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")
    env = {**os.environ, **dict.fromkeys(names, "t")}
    for command in (["add", "f.txt"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", "-C", str(tmp_path), *command], check=True, env=env)
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    commit = git_commit(tmp_path)
    assert len(commit) >= 7 and head.startswith(commit)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    protocol = collect_protocol(JobSettings.from_json(SETTINGS), train_images=40)
    path = write_protocol(tmp_path / "run", protocol)
    assert path == tmp_path / "run" / PROTOCOL
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["version"] == 2
    assert written["settings"] == JobSettings.from_json(SETTINGS).as_json()
    assert read_protocol(tmp_path / "run") == protocol
    assert not list((tmp_path / "run").glob(".*.tmp"))  # the temp file was renamed away


def test_missing_file_is_none_and_unknown_keys_are_ignored(tmp_path: Path) -> None:
    assert read_protocol(tmp_path) is None
    (tmp_path / PROTOCOL).write_text(
        json.dumps({"version": 2, "data": "voc:/d", "epochs": 5, "new_field": 1}), encoding="utf-8"
    )
    assert read_protocol(tmp_path) == Protocol(data="voc:/d", epochs=5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "cannot read the protocol"),
        ("[1, 2]", "expected a JSON object"),
        ('{"epochs": "ten"}', "field 'epochs'"),
        ('{"data": 3}', "field 'data'"),
        ('{"load_avg": [1, 2]}', "field 'load_avg'"),
        ('{"threads": true}', "field 'threads'"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / PROTOCOL).write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError, match=message) as info:
        read_protocol(tmp_path)
    assert "\n" not in str(info.value)


def test_a_version_1_protocol_reads_without_settings(tmp_path: Path) -> None:
    """protocol.json of a run from before the settings were recorded in full."""
    (tmp_path / PROTOCOL).write_text(
        json.dumps({"version": 1, "data": "shapes", "epochs": 3, "lr": 0.002}), encoding="utf-8"
    )
    protocol = read_protocol(tmp_path)
    assert protocol is not None and protocol.settings is None
    assert (protocol.data, protocol.epochs, protocol.lr) == ("shapes", 3, 0.002)


def test_settings_that_are_not_job_settings_are_a_protocol_error(tmp_path: Path) -> None:
    (tmp_path / PROTOCOL).write_text(json.dumps({"settings": {"speed": 1}}), encoding="utf-8")
    with pytest.raises(ProtocolError, match="field 'settings' is not job settings"):
        read_protocol(tmp_path)
