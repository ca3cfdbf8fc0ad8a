"""A chart as the report sees it (title, PNG and SVG files, a note) and how figures are saved.

Shared by the report's accuracy-vs-cost charts (:mod:`benchmarks.report.charts.scatter`),
its training curves (:mod:`benchmarks.report.charts.curves`) and ``graphspec val``'s
pictures, so all are written, named and captioned the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from graphspec.atomic import atomic_write  # noqa: E402

__all__ = ["Chart", "save_atomic", "save_figure", "slug"]


@dataclass
class Chart:
    """A written chart: its title, PNG/SVG paths and a note shown under it ('' for none)."""

    title: str
    png: Path
    svg: Path
    note: str = ""


def slug(text: str) -> str:
    """File-name-safe form of a label (``cuda:0`` -> ``cuda_0``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "x"


def save_figure(fig: Figure, out_stem: Path) -> tuple[Path, Path]:
    """Write ``out_stem``.png and .svg; returns both paths."""
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    png = out_stem.with_suffix(".png")
    svg = out_stem.with_suffix(".svg")
    save_atomic(fig, png, dpi=120)
    # Text as <text> keeps the SVG small; a per-chart salt keeps element ids unique when
    # several SVGs are inlined into one HTML page.
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": out_stem.name}):
        save_atomic(fig, svg)
    return png, svg


def save_atomic(fig: Figure, path: Path, dpi: float | None = None) -> None:
    """``fig.savefig`` through a temp file, so a full disk leaves the old file or none,
    never half a chart (the format is the suffix's: ``png``, ``svg``)."""
    fmt = path.suffix.lstrip(".")
    atomic_write(path, lambda handle: fig.savefig(handle, format=fmt, dpi=dpi), binary=True)
