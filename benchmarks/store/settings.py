"""The settings of a job, with their defaults written once.

Every job of a sweep runs under one :class:`JobSettings`; the CLI's option defaults, the
sweep's options, a job's key (:mod:`benchmarks.store.jobs`), its ``config.json`` and the
run's ``protocol.json`` all read this one record. Its JSON form (:meth:`JobSettings.as_json`)
is what a job key hashes, so the field names and their JSON values must not change from
one release to the next, or a resume would re-run every job.

This module imports nothing heavy: the command line builds its parsers from it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphspec import Spec

__all__ = ["JobSettings", "SettingsError"]


class SettingsError(ValueError):
    """A recorded settings object that is not one (one line)."""


@dataclass(frozen=True)
class JobSettings:
    """How one job is trained, evaluated and timed (``graphspec bench``'s options).

    ``image_size`` None means the spec's own input size; ``lr`` is a number or ``"auto"``
    (a learning-rate range test per spec); ``limit`` caps the training (and validation)
    images; ``patience`` None means no early stopping; ``threads`` None is torch's default
    count. ``epochs``, ``batch_size`` and ``lr`` give way to a spec's ``train:`` section.
    """

    epochs: int = 10
    batch_size: int = 16
    seed: int = 0
    image_size: tuple[int, int] | None = None
    device: str = "cpu"
    data: str = "shapes"
    compile: bool = False
    workers: int = 0
    limit: int | None = None
    lr: float | str = 2e-3
    val_every: int = 1
    patience: int | None = None
    normalize: str = "dataset"
    augment: bool = True
    threads: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The settings as JSON values (``image_size`` a list): what a job key hashes, what
        ``config.json`` and the results' ``settings`` column record."""
        values = dataclasses.asdict(self)
        values["image_size"] = list(self.image_size) if self.image_size else None
        return values

    def as_text(self) -> str:
        """Canonical JSON text (sorted keys, no spaces), the ``settings`` column."""
        return json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> JobSettings:
        """Settings recorded by :meth:`as_json` (a job's ``config.json``, a results row).

        Keys a record lacks take their defaults, so records of older runs read back; an
        unknown key is a :class:`SettingsError` (a record of another program)."""
        if not isinstance(values, Mapping):
            raise SettingsError(f"job settings must be an object, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SettingsError(f"unknown job setting(s): {', '.join(map(str, unknown))}")
        size = values.get("image_size")
        if size is not None:
            size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        return cls(**{**values, "image_size": size})

    @classmethod
    def from_text(cls, text: str) -> JobSettings:
        """Settings from :meth:`as_text` (a results row's ``settings`` column)."""
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"job settings are not JSON ({exc.msg})") from None
        return cls.from_json(values)

    def with_seed(self, seed: int) -> JobSettings:
        return dataclasses.replace(self, seed=seed)

    def image_size_for(self, spec: Spec) -> tuple[int, int]:
        """The (H, W) the job trains at: ``image_size``, else the spec's input size."""
        return self.image_size or (spec.input.height, spec.input.width)

    def differences(self, other: JobSettings) -> list[str]:
        """Names of the settings that differ from ``other``'s, in field order."""
        return [
            f.name
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


DEFAULT_SETTINGS = JobSettings()
"""What ``graphspec bench`` runs with when an option is left out."""
