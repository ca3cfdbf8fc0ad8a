"""A job of a sweep (a spec file under one settings dict) and its stable key.

A job's key hashes the spec bytes, the settings and the spec's name, so an edited spec or a
changed setting is a new job while an unchanged one is recognised on resume, and the job's
row and folder (:mod:`benchmarks.store.layout`) are found again from the key alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.store.layout import JOBS_DIR, job_folder_name

__all__ = ["Job", "file_hash", "job_key", "settings_json"]


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of the file bytes (first 16 hex chars): an edited spec is a different job."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def settings_json(settings: Mapping[str, Any]) -> str:
    """Canonical JSON of a settings dict (sorted keys, no whitespace) used for hashing."""
    return json.dumps(dict(settings), sort_keys=True, separators=(",", ":"), default=str)


def job_key(spec_hash: str, settings: Mapping[str, Any], spec_name: str | None = None) -> str:
    """Stable identity of one (spec, settings) job: 16 hex chars of sha256.

    Any change of spec content or of any setting gives a new key, so resume re-runs it. The
    optional ``spec_name`` keeps two spec files with identical bytes apart (otherwise their rows
    would replace each other); it is left out of the hash when None.
    """
    parts = [spec_hash, settings_json(settings)]
    if spec_name is not None:
        parts.append(spec_name)
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


@dataclass
class Job:
    """One unit of a sweep: a spec file trained/evaluated/timed under one settings dict.

    ``spec_hash`` (and so ``key``) is read from the file once and cached, so the key a job is
    planned under is the key its row is stored under even if the file is edited mid-sweep.
    """

    spec_file: Path
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.spec_file = Path(self.spec_file)
        self.settings = dict(self.settings)

    @property
    def name(self) -> str:
        """Spec file stem, used in job folder names and as the default ``spec`` column."""
        return self.spec_file.stem

    @functools.cached_property
    def spec_hash(self) -> str:
        return file_hash(self.spec_file)

    @functools.cached_property
    def key(self) -> str:
        return job_key(self.spec_hash, self.settings, spec_name=self.name)

    @property
    def dir_name(self) -> str:
        """Job folder name: readable and unique per key (so per seed: the seed is a setting)."""
        return job_folder_name(self.name, self.key)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for sweep.json."""
        return {
            "name": self.name,
            "spec_file": str(self.spec_file),
            "spec_hash": self.spec_hash,
            "key": self.key,
            "job_dir": f"{JOBS_DIR}/{self.dir_name}",
            "settings": self.settings,
        }
