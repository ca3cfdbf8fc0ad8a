"""A finished bench run, from Python: its results table, its job folders, its trained models.

``graphspec bench`` leaves ``RUN/results.{csv,parquet}`` (one row per job) and
``RUN/jobs/<spec>-<key8>/`` (``config.json``, ``best.pt``, ``last.pt``). :func:`load_run`
reads them back so a notebook can go from a row to a working network in one call, instead
of re-deriving the folder name, the image size and the strict weight load by hand.

A job's weights only mean something for the exact spec they were trained from, so
:meth:`Run.model` opens the job as ``val`` and ``predict`` do (the shared loader,
:mod:`benchmarks.inference.loader`): the spec file's hash is checked against the job's
``spec_hash`` and the weights load bounded, memory-mapped and strictly; an edited spec or
a mismatched file is a one-line error, never a half-random network that still runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from benchmarks.inference.loader import (
    InferenceError,
    load_network,
    open_job,
    resolve_spec_file,
)
from benchmarks.store.layout import JobFolder, RunFolder
from benchmarks.store.read import read_results
from compiler import GraphNet, compile_graph

__all__ = ["Run", "RunError", "RunJob", "load_run"]

Which = Literal["best", "last"]
_WEIGHTS = ("best", "last")


class RunError(ValueError):
    """A run folder, job or weights choice that cannot be read back (one line)."""


@dataclass(frozen=True)
class RunJob:
    """One row's job: its folder, the spec file it trained and its ``config.json``.

    ``config`` is ``None`` for a job that left no ``config.json`` (a failed job keeps no
    files but ``error.txt``). ``spec_file`` is the recorded path where it is now
    (:func:`~benchmarks.inference.loader.resolve_spec_file`: as recorded, else below an
    ancestor of the run folder; bench records it relative to where it ran).
    """

    name: str
    spec: str
    status: str
    dir: Path
    spec_file: Path
    spec_hash: str
    config: Mapping[str, Any] | None = field(repr=False)


def _read_config(job_dir: Path) -> Mapping[str, Any] | None:
    path = JobFolder(job_dir).config
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _job_of(row: Mapping[str, Any], run_dir: Path) -> RunJob:
    """The job of one results row, in the folder :mod:`benchmarks.store.layout` names."""
    folder = RunFolder(run_dir).job_of(Path(row["spec_file"]).stem, str(row["job_key"]))
    name, job_dir = folder.name, folder.path
    return RunJob(
        name=name,
        spec=str(row["spec"]),
        status=str(row["status"]),
        dir=job_dir,
        spec_file=resolve_spec_file(str(row["spec_file"]), run_dir, str(row["spec_hash"])),
        spec_hash=str(row["spec_hash"]),
        config=_read_config(job_dir),
    )


@dataclass(frozen=True)
class Run:
    """A bench run folder: ``rows`` (the results table) and ``jobs`` (one per row, in order)."""

    run_dir: Path
    rows: pd.DataFrame
    jobs: tuple[RunJob, ...]

    def job(self, name: str) -> RunJob:
        """The job named by its folder (``segnet-small-42131e2f``) or, if unique, its spec."""
        by_dir = [job for job in self.jobs if job.name == name]
        matches = by_dir or [job for job in self.jobs if job.spec == name]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(job.name for job in (matches or self.jobs)) or "none"
        reason = "names several jobs" if matches else "is no spec or job folder of"
        raise RunError(f"'{name}' {reason} {self.run_dir} (jobs: {known})")

    def model(self, spec_name_or_job: str | RunJob, which: Which = "best") -> GraphNet:
        """The job's network with its ``best.pt`` (or ``last.pt``) loaded, in eval mode.

        The spec is compiled at the job's image size, as the job trained it; the weights
        load strictly (:func:`compiler.emit.weights.load_weights_file`)."""
        job = spec_name_or_job if isinstance(spec_name_or_job, RunJob) else None
        job = job or self.job(str(spec_name_or_job))
        if which not in _WEIGHTS:
            raise RunError(f"which must be 'best' or 'last', got {which!r}")
        folder = JobFolder(job.dir)
        weights = folder.best_weights if which == "best" else folder.last_weights
        if not weights.is_file() or job.config is None:
            raise RunError(f"job {job.name} has no {weights.name} (status {job.status})")
        try:
            spec = open_job(job.dir).spec
        except InferenceError as exc:
            raise RunError(str(exc)) from None
        return load_network(compile_graph(spec, check_budget=False), weights)[0]


def load_run(run_dir: str | Path) -> Run:
    """Read a ``graphspec bench --out RUN`` folder: results rows and their job folders."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run folder not found: {run_dir}")
    try:
        rows = read_results(run_dir)
    except FileNotFoundError as exc:
        raise RunError(str(exc)) from None
    jobs = tuple(_job_of(row, run_dir) for row in rows.to_dict("records"))
    return Run(run_dir=run_dir, rows=rows, jobs=jobs)
