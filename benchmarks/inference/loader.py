"""The one loader of a trained model, shared by ``graphspec val``, ``graphspec predict``
(both through :func:`~benchmarks.inference.model.load_model`) and
:meth:`~benchmarks.inference.run.Run.model` (``load_run``).

A job's weights only mean something for the exact spec they were trained from, at the size
they were trained at. A job folder's ``config.json`` records the spec file as bench was
given it (usually relative to the folder bench ran in) and the settings; the hash of the
spec's bytes when the job ran is its row's ``spec_hash`` (``config.json``'s row when it
has one, else the row of the run's results whose job folder this is). So :func:`open_job`

* finds the spec file as recorded, else below an ancestor of the run folder
  (:func:`resolve_spec_file`), so a job folder works from any working directory;
* refuses a spec file edited since the job ran, naming both hashes: weights of one
  network loaded into another that happens to fit would be a silently different model.
  A job folder no row names (copied out of its run) is checked by its name instead: the
  job key ends it, and the key hashes the spec's bytes (:func:`~benchmarks.store.jobs.job_key`).

Weights, of a job or given with ``--weights``, load through :func:`load_network`, i.e.
:func:`compiler.emit.weights.load_weights_file` (bounded before reading, memory-mapped,
names, shapes, dtypes and finite values checked before any copy), the same reader
``graphspec compile --weights`` uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.data.normalize import Normalization
from benchmarks.store.jobs import file_hash, job_key
from benchmarks.store.layout import JobFolder, RunFolder
from benchmarks.store.results import ResultsFileError, ResultsStore
from benchmarks.store.settings import JobSettings, SettingsError
from compiler import GraphNet, build_network
from compiler.emit.weights import load_weights_file
from graphspec import Graph, Spec, load_spec

__all__ = [
    "InferenceError",
    "JobModel",
    "JobRecord",
    "load_network",
    "open_job",
    "read_job",
    "resolve_spec_file",
]


class InferenceError(ValueError):
    """A model folder, spec or option that cannot be used for inference (one line)."""


def resolve_spec_file(recorded: str, run_dir: Path, spec_hash: str | None = None) -> Path:
    """Where the recorded spec path is now: as recorded (relative to the working folder),
    else below an ancestor of ``run_dir``. With ``spec_hash``, the first candidate with
    that hash wins, so a same-named spec in the working folder does not hide the job's;
    the recorded path itself when no candidate exists."""
    path = Path(recorded)
    ancestors = Path(run_dir).resolve().parents
    candidates = [path] if path.is_absolute() else [path, *(p / path for p in ancestors)]
    found = [c for c in candidates if c.is_file()]
    same = [c for c in found if spec_hash is not None and file_hash(c) == spec_hash]
    return next(iter(same or found), path)


@dataclass(frozen=True)
class JobRecord:
    """What a job folder's ``config.json`` says its model is."""

    dir: Path
    recorded_spec_file: str  # as bench recorded it
    spec_file: Path  # where it is now (:func:`resolve_spec_file`)
    spec_hash: str | None  # the spec's hash when the job ran (its row's); None: no row
    settings: JobSettings
    normalization: Normalization | None
    class_names: tuple[str, ...] | None = None  # as trained, background first; None: older job

    @property
    def name(self) -> str:
        """The folder's own name (``.`` given from inside it included)."""
        return self.dir.resolve().name

    @property
    def spec_name(self) -> str:
        """The spec file's stem: part of the job key and of the folder name."""
        return Path(self.recorded_spec_file).stem


@dataclass(frozen=True)
class JobModel:
    """A job folder whose spec is the one it trained: the record and that spec at the
    job's image size."""

    job: JobRecord
    spec: Spec


def _config(job_dir: Path) -> dict[str, Any]:
    path = JobFolder(job_dir).config
    if not path.is_file():
        raise InferenceError(
            f"{job_dir} is not a bench job folder (expected RUN/jobs/NAME with config.json "
            "and best.pt)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InferenceError(f"{path}: not valid JSON ({exc.msg})") from None
    if not isinstance(config, dict):
        raise InferenceError(f"{path}: expected a JSON object, got {type(config).__name__}")
    return config


def _normalization(value: object, where: Path) -> Normalization | None:
    if value is None:
        return None
    try:
        if isinstance(value, dict):
            return Normalization(value["name"], tuple(value["mean"]), tuple(value["std"]))
    except (KeyError, TypeError, ValueError):
        pass
    raise InferenceError(f"{where}: 'normalization' is not name, mean and std")


def _class_names(value: object, where: Path) -> tuple[str, ...] | None:
    """``config.json``'s ``class_names``: None for a job folder from before bench recorded
    them (the spec's, the data's or the built-in names serve then)."""
    if value is None:
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise InferenceError(f"{where}: 'class_names' is not a list of names")


def _row_hash(job_dir: Path, spec_name: str) -> str | None:
    """The ``spec_hash`` of the row of the job in ``job_dir`` (resolved) in its run's
    results (the row whose spec stem and key name this folder); None without a readable
    row."""
    folder = RunFolder(job_dir.parent.parent)  # RUN/jobs/NAME
    if not any(path.is_file() for path in folder.results_files):
        return None
    try:
        rows = ResultsStore(folder.path).rows()
    except ResultsFileError:
        return None
    hashes = {
        row.get("spec_hash")
        for row in rows
        if folder.job_of(Path(str(row.get("spec_file") or spec_name)).stem, row["job_key"]).name
        == job_dir.name
    }
    found = [h for h in hashes if isinstance(h, str) and h]
    return found[0] if len(found) == 1 else None


def read_job(job_dir: Path) -> JobRecord:
    """The record of ``job_dir`` (``RUN/jobs/NAME``); one-line :class:`InferenceError`s."""
    job_dir = Path(job_dir)
    config, where = _config(job_dir), JobFolder(job_dir).config
    recorded = config.get("spec_file")
    if not isinstance(recorded, str) or not recorded:
        raise InferenceError(f"{where}: no 'spec_file' recorded")
    row = config.get("row") if isinstance(config.get("row"), dict) else {}
    recorded_hash = row.get("spec_hash") if isinstance(row.get("spec_hash"), str) else None
    spec_hash = recorded_hash or _row_hash(job_dir.resolve(), Path(recorded).stem)
    try:
        settings = JobSettings.from_json(config.get("settings", {}))
    except SettingsError as exc:
        raise InferenceError(f"{where}: {exc}") from None
    run_dir = job_dir.resolve().parent.parent
    spec_file = resolve_spec_file(recorded, run_dir, spec_hash)
    normalization = _normalization(config.get("normalization"), where)
    names = _class_names(config.get("class_names"), where)
    return JobRecord(job_dir, recorded, spec_file, spec_hash, settings, normalization, names)


def _check_spec_file(job: JobRecord) -> None:
    """Refuse a spec file that is not the one ``job`` trained (one line, both hashes)."""
    actual = file_hash(job.spec_file)
    if job.spec_hash is not None:
        if actual != job.spec_hash:
            raise InferenceError(
                f"spec file {job.spec_file} changed since job {job.name} ran "
                f"(expected hash {job.spec_hash}, got {actual})"
            )
        return
    key = job_key(actual, job.settings.as_json(), spec_name=job.spec_name)
    if RunFolder(job.dir.resolve().parent.parent).job_of(job.spec_name, key).name != job.name:
        raise InferenceError(
            f"spec file {job.spec_file} is not the one job {job.name} trained, or the folder "
            f"was renamed (hash {actual} gives job key {key[:8]}; no results row records "
            "the job's spec_hash)"
        )


def open_job(job_dir: Path) -> JobModel:
    """``job_dir``'s record and spec, compiled-ready at the job's image size; refused when
    the spec file is gone or is not the one the job trained."""
    job = read_job(job_dir)
    if not job.spec_file.is_file():
        raise InferenceError(
            f"spec file of job {job.name} not found: {job.recorded_spec_file} (looked as "
            f"recorded and below the ancestors of its run folder)"
        )
    _check_spec_file(job)
    spec = load_spec(job.spec_file)
    return JobModel(job, spec.with_input_size(job.settings.image_size_for(spec)))


def load_network(graph: Graph, weights: Path) -> tuple[GraphNet, dict[str, torch.Tensor]]:
    """``GraphNet(graph)`` with ``weights`` loaded (:func:`load_weights_file`), in eval mode,
    and the state it loaded (memory-mapped) for networks of other sizes."""
    net = build_network(graph)
    state = load_weights_file(net, weights)
    return net.eval(), state
