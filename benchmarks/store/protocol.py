"""How a sweep was run, recorded once per run directory in ``protocol.json``.

Accuracies and timings mean little without the protocol behind them: data and split sizes,
training length and early stopping, input size, batch, learning rate, augmentation,
normalisation, device, dtype, threads, software versions, commit, date and machine load.
:func:`collect_protocol` gathers it from the sweep settings and the environment at sweep
start, :func:`write_protocol` stores it atomically, and the report reads it back with
:func:`read_protocol` (falling back to the results rows' columns for runs without one).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from benchmarks.store.layout import RunFolder
from benchmarks.store.settings import JobSettings, SettingsError
from benchmarks.train.config import TrainConfig
from graphspec.atomic import atomic_write_text, ensure_dir

__all__ = [
    "Protocol",
    "ProtocolError",
    "collect_protocol",
    "git_commit",
    "read_protocol",
    "write_protocol",
]

_VERSION = 2


class ProtocolError(ValueError):
    """protocol.json exists but is not a protocol this code can read."""


@dataclass(frozen=True)
class Protocol:
    """The sweep-wide facts a reader needs to judge the results.

    Empty strings and None mean "not recorded"; ``patience`` None means no early stopping.
    ``lr`` is the sweep's learning rate (a number or ``"auto"``); a spec's own ``train.lr``
    may override it, which the report shows from the rows.
    """

    data: str = ""
    train_images: int | None = None
    val_images: int | None = None
    test_images: int | None = None
    epochs: int | None = None
    patience: int | None = None
    val_every: int | None = None
    image_size: str = ""
    batch_size: int | None = None
    lr: float | str | None = None
    augmentation: str = ""
    normalisation: str = ""
    device: str = ""
    dtype: str = ""
    threads: int | None = None
    torch_version: str = ""
    graphspec_version: str = ""
    git_commit: str = ""
    date: str = ""
    load_avg: tuple[float, float, float] | None = None
    settings: JobSettings | None = None
    """Every job setting of the sweep (version 2; None for runs written before)."""


def git_commit(cwd: Path | None = None) -> str:
    """Short commit hash of the repository holding ``cwd``; '' outside a git repository."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _load_avg() -> tuple[float, float, float] | None:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # not available on every platform
        return None
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def _dtype(device: str) -> str:
    """What training computes in on ``device``: bf16 autocast on CUDA, else fp32."""
    try:
        return "bf16" if TrainConfig(device=device).use_amp else "fp32"
    except RuntimeError:  # a device string torch does not know
        return ""


def _image_size(value: Any) -> str:
    if value is None:
        return "spec default"
    if isinstance(value, int):
        return f"{value}x{value}"
    return "x".join(str(int(v)) for v in value)


def _augmentation(value: Any) -> str:
    if value is None:
        return ""
    return "random flips" if value else "none"


def collect_protocol(
    settings: JobSettings,
    *,
    train_images: int | None = None,
    val_images: int | None = None,
    test_images: int | None = None,
    cwd: Path | None = None,
) -> Protocol:
    """The protocol of a sweep run under ``settings``, here and now.

    ``threads`` None is recorded as torch's current count. Split sizes are known only once
    the data is opened, so the caller passes them when it has them; the report otherwise
    takes them from the rows.
    """
    device = settings.device
    return Protocol(
        data=settings.data,
        train_images=train_images,
        val_images=val_images,
        test_images=test_images,
        epochs=settings.epochs,
        patience=settings.patience,
        val_every=settings.val_every,
        image_size=_image_size(settings.image_size),
        batch_size=settings.batch_size,
        lr=settings.lr,
        augmentation=_augmentation(settings.augment),
        normalisation=settings.normalize,
        device=device,
        dtype=_dtype(device) if device else "",
        threads=torch.get_num_threads() if settings.threads is None else int(settings.threads),
        torch_version=torch.__version__,
        graphspec_version=_package_version("graphspec"),
        git_commit=git_commit(cwd),
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        load_avg=_load_avg(),
        settings=settings,
    )


_MOMENT_FIELDS = ("date", "load_avg")
"""Fields that differ from one start to the next even when the protocol is the same."""


def _same_protocol(path: Path, payload: Mapping[str, Any]) -> bool:
    """Whether ``path`` records ``payload`` up to the moment it was taken (date, load)."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not isinstance(old, dict):
        return False
    new = json.loads(json.dumps(payload))
    return all(old.get(k) == v for k, v in new.items() if k not in _MOMENT_FIELDS) and set(
        old
    ) == set(new)


def write_protocol(run_dir: str | Path, protocol: Protocol) -> Path:
    """Atomically write ``RUN_DIR/protocol.json``; returns its path.

    Left untouched when it already records the same protocol (only the date and load average
    would change), so a resumed run writes nothing and keeps its first start's date.
    """
    path = RunFolder(Path(run_dir)).protocol
    ensure_dir(path.parent)
    payload = {"version": _VERSION, **dataclasses.asdict(protocol)}
    payload["settings"] = protocol.settings.as_json() if protocol.settings else None
    if not _same_protocol(path, payload):
        atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
    return path


_FIELDS = {f.name: f for f in dataclasses.fields(Protocol)}


def _fits(kind: str, value: Any) -> bool:
    """Whether a JSON value has the type of a field annotated ``kind``."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "int | None":
        return number and isinstance(value, int)
    if kind == "float | str | None":
        return number or isinstance(value, str)
    triple = isinstance(value, list) and len(value) == 3  # the load average
    return triple and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)


def _field(name: str, value: Any, path: Path) -> Any:
    """The value of field ``name`` (None is "not recorded"), or a ProtocolError."""
    if value is None:
        return _FIELDS[name].default
    if name == "settings":
        try:
            return JobSettings.from_json(value)
        except (SettingsError, TypeError, ValueError) as exc:
            raise ProtocolError(f"{path}: field 'settings' is not job settings ({exc})") from None
    if not _fits(str(_FIELDS[name].type), value):
        raise ProtocolError(f"{path}: field {name!r} has an unexpected value {value!r}")
    return tuple(float(v) for v in value) if name == "load_avg" else value


def read_protocol(run_dir: str | Path) -> Protocol | None:
    """``RUN_DIR/protocol.json`` as a Protocol; None when the run has none.

    Unknown keys (from a newer writer) are ignored and missing ones are "not recorded";
    a file that is not a JSON object, or a field of the wrong type, is a ProtocolError.
    """
    path = RunFolder(Path(run_dir)).protocol
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"{path}: cannot read the protocol ({exc})") from exc
    if not isinstance(payload, dict):
        raise ProtocolError(f"{path}: expected a JSON object, got {type(payload).__name__}")
    known = {name: _field(name, payload[name], path) for name in _FIELDS if name in payload}
    return Protocol(**known)
