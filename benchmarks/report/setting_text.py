"""The words that tell a task's groups apart in labels: the settings that differ.

Two groups of one spec differ in some setting (a size, a device, a learning rate, a
training-image limit); a label names exactly the settings that vary among the task's
groups, so ``fcn-small lr=0.001`` and ``fcn-small lr=0.01`` never read alike. The size,
device and dtype come from the columns of what the job used (``64x64px``, ``cuda:0``); the
other settings from each row's ``settings`` (version 2 rows; older rows have none).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from benchmarks.report.format import DASH, text
from benchmarks.store.settings import JobSettings, SettingsError

__all__ = ["setting_texts", "variant_texts"]

USED_COLUMNS = ("image_size", "device", "dtype")
"""Settings shown as the job used them; the seed is never a difference between groups."""
_SKIPPED = {"seed", "image_size", "device"}


def _settings(value: object) -> JobSettings | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return JobSettings.from_text(value)
    except (SettingsError, TypeError, ValueError):
        return None


def _varying_settings(parsed: pd.Series) -> list[str]:
    """Names of the job settings whose values differ among the groups that record them."""
    present = [s for s in parsed if s is not None]
    names = [f.name for f in dataclasses.fields(JobSettings) if f.name not in _SKIPPED]
    return [n for n in names if len({repr(getattr(s, n)) for s in present}) > 1]


def variant_texts(groups: pd.DataFrame) -> pd.Series:
    """Per group, the job settings other than size and device that vary among ``groups``
    (``lr=0.01 limit=8``; '' where none vary): what the tables add to the spec's name."""
    parsed = groups["settings"].map(_settings) if "settings" in groups else None
    varying = _varying_settings(parsed) if parsed is not None else []

    def describe(index: object) -> str:
        settings = parsed[index] if parsed is not None else None
        if settings is None:
            return ""
        return " ".join(f"{name}={_value(getattr(settings, name))}" for name in varying)

    return pd.Series([describe(i) for i in groups.index], index=groups.index, dtype=object)


def setting_texts(groups: pd.DataFrame) -> pd.Series:
    """Per group, every setting that varies among ``groups``: the size, device and dtype
    used, then :func:`variant_texts` ('' where none vary). Labels and chart markers."""
    used = [c for c in USED_COLUMNS if c in groups and groups[c].nunique(dropna=False) > 1]
    variants = variant_texts(groups)

    def describe(index: object) -> str:
        row = groups.loc[index]
        parts = [text(row[c]) + ("px" if c == "image_size" else "") for c in used]
        parts = [p for p in parts if not p.startswith(DASH)]
        return " ".join([*parts, variants[index]]).strip()

    return pd.Series([describe(i) for i in groups.index], index=groups.index, dtype=object)


def _value(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)
