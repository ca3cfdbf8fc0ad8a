"""A chart as the report sees it (title, PNG and SVG files, a note) and how figures are saved.

Shared by the report's accuracy-vs-cost charts (:mod:`benchmarks.report.charts.scatter`),
its training curves (:mod:`benchmarks.report.charts.curves`) and ``graphspec val``'s
pictures, so all are written, named and captioned the same way. A chart's file name is
made of slugs of labels (a spec's name, a device), and a spec's name may be as long as a
YAML string, so :func:`slug` cuts a long label with a hash of it: a name made of a few slugs
stays far below the 255-byte file-name limit. A chart is saved cropped to everything drawn
on it (``bbox_inches="tight"``), so an axis label, a title or a legend that reaches past the
margins a chart set is never cut off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from graphspec.atomic import atomic_write, bounded_name  # noqa: E402

__all__ = ["SLUG_MAX_BYTES", "Chart", "save_atomic", "save_figure", "slug"]

PAD_INCHES = 0.1
"""White space kept around everything drawn when a chart is cropped to it."""

SLUG_MAX_BYTES = 64
"""The longest slug: longer labels are cut to it, a hash of the label included."""


@dataclass
class Chart:
    """A written chart: its title, PNG/SVG paths and a note shown under it ('' for none)."""

    title: str
    png: Path
    svg: Path
    note: str = ""


def slug(text: str, limit: int = SLUG_MAX_BYTES) -> str:
    """File-name-safe form of a label (``cuda:0`` -> ``cuda_0``), at most ``limit`` bytes:
    a longer one is cut, with 8 hex digits of its hash, so two long labels that start
    alike keep apart."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "x"
    return bounded_name(safe, limit)


def save_figure(fig: Figure, out_stem: Path) -> tuple[Path, Path]:
    """Write ``out_stem``.png and .svg, each cropped to what is drawn; returns both paths
    (the suffix is appended, so a stem with a dot in it, ``v1.5``, keeps all of it)."""
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    png = out_stem.with_name(out_stem.name + ".png")
    svg = out_stem.with_name(out_stem.name + ".svg")
    # The extent of everything drawn, in inches, measured once for both files: savefig's
    # own bbox_inches="tight" draws the whole figure once more for each file to measure it.
    crop = fig.get_tightbbox(fig.canvas.get_renderer()).padded(PAD_INCHES)
    save_atomic(fig, png, dpi=120, crop=crop)
    # Text as <text> keeps the SVG small; a per-chart salt keeps element ids unique when
    # several SVGs are inlined into one HTML page.
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": out_stem.name}):
        save_atomic(fig, svg, crop=crop)
    return png, svg


def save_atomic(
    fig: Figure, path: Path, dpi: float | None = None, crop: Bbox | None = None
) -> None:
    """``fig.savefig`` through a temp file, so a full disk leaves the old file or none,
    never half a chart (the format is the suffix's: ``png``, ``svg``); ``crop`` (in inches)
    is the part of the figure saved, all of it when None."""
    fmt = path.suffix.lstrip(".")
    atomic_write(
        path,
        lambda handle: fig.savefig(handle, format=fmt, dpi=dpi, bbox_inches=crop),
        binary=True,
    )
