"""The report's prediction sections: each ok run's strip of validation images and its
per-class table, read from the files the job left in its folder
(:func:`benchmarks.store.job_files.save_predictions`).

The strip is copied next to the report (report.md links it; report.html embeds it as a
data URI, so that file stays self-contained). A run from before these files existed, or
whose files cannot be read, simply has no prediction section. Only a job's own files are
read: a strip or table that is a symlink, or leads out of the run folder, is left out
(:meth:`~benchmarks.store.layout.JobFolder.own_file`), since report.html is made to be
shared and would carry whatever such a link points at. The copy's name is one slug
(:func:`~benchmarks.figures.files.slug`) of the task, the row's label and the job folder,
bounded like every chart name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.figures.files import slug
from benchmarks.report.content import Section
from benchmarks.report.format import DASH, text
from benchmarks.store.layout import JobFolder, find_job_folder
from benchmarks.tasks import task_class
from graphspec.atomic import atomic_write, ensure_dir

__all__ = ["PredictionSection", "prediction_sections"]

STRIP_NOTE = "Columns: input, ground truth, prediction (best weights), first validation images."
STRIP_NAME_BYTES = 150
"""The longest strip file name before ``.png``: a few of them fit any folder name."""


@dataclass
class PredictionSection(Section):
    """A section whose picture is a PNG strip (``image``, next to the report) and whose
    table is the per-class test numbers of one run."""

    image: Path | None = None


def _table(folder: JobFolder, column: str) -> tuple[list[str], list[list[str]]] | None:
    """Headers and rows of the job's per_class.json; None when it cannot be read or is not
    the job's own file."""
    path = folder.per_class
    if not folder.own_file(path):
        return None
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        rows = [
            [str(e["name"]), DASH if e["value"] is None else f"{e['value']:.3f}"] for e in entries
        ]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return ["Class", column], rows


def prediction_sections(
    task: str, rows: pd.DataFrame, run_dirs: Sequence[Path], out_dir: Path
) -> list[PredictionSection]:
    """One section per row of ``rows`` (ok runs with ``label``, ``seed``, ``job_key``,
    ``spec_file``) whose job folder has a predictions.png; the strip is copied into
    ``out_dir``."""
    known = task_class(task)
    column = (known.per_class_name if known else None) or "score"
    sections = []
    for _, row in rows.iterrows():
        folder = find_job_folder(run_dirs, row.get("spec_file"), row.get("job_key"))
        if folder is None or not folder.own_file(folder.predictions):
            continue
        heading = f"{task.capitalize()} predictions: {row['label']} (seed {text(row.get('seed'))})"
        stem = slug(f"{task}_predictions_{row['label']}_{folder.name}", STRIP_NAME_BYTES)
        image = ensure_dir(out_dir) / f"{stem}.png"
        try:
            data = folder.predictions.read_bytes()
        except OSError:
            continue
        atomic_write(image, lambda handle, data=data: handle.write(data), binary=True)
        section = PredictionSection(heading=heading, summary=STRIP_NOTE, image=image)
        table = _table(folder, f"{column} (test)")
        if table is not None:
            section.headers, section.rows = table
        sections.append(section)
    return sections
