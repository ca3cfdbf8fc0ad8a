"""One row of ``results.csv`` / ``results.parquet``, typed, and the table generated from it.

:class:`ResultRow` is the one place the results table is written down: its fields are the
columns, in order, and their annotations the columns' kinds (text, integer, float,
yes/no) that keep the on-disk schema stable from one append to the next. The metric
columns come from the tasks (:data:`benchmarks.tasks.TASKS`): each task declares the
metrics it reports. ``job_key`` identifies a row (:data:`KEY_COLUMN`); the seeds of one
job are the rows whose spec and ``settings`` agree but for the seed (:func:`group_key`).

Every row carries :data:`SCHEMA_VERSION`. Version 1 (runs from before this column)
lacks ``settings``; :func:`benchmarks.store.results_io.upgrade_rows` reads those too.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from benchmarks.store.jobs import settings_json
from benchmarks.store.settings import JobSettings, SettingsError
from benchmarks.tasks import task_classes

__all__ = [
    "KEY_COLUMN",
    "SCHEMA_VERSION",
    "STATUS_FAILED",
    "STATUS_OK",
    "ColumnKind",
    "ResultRow",
    "SEED_FOLDS",
    "column_kinds",
    "group_key",
    "metric_columns",
    "result_columns",
    "verdict_flags",
]

SCHEMA_VERSION = 2
"""1: runs without a ``settings`` column; 2: a row names its settings and its version."""
KEY_COLUMN = "job_key"
ColumnKind = Literal["text", "int", "float", "bool"]
STATUS_OK = "ok"
STATUS_FAILED = "failed"
"""The ``status`` of a job that finished, and of one that raised (its ``error`` says why)."""


@dataclass
class ResultRow:
    """A job's row: who it is, what it cost, how it trained, how it scored.

    Every field may be None (a failed row has its identity, settings and error only).
    ``metrics`` holds the task's scores, one column each; ``extra`` any other value a job
    reported (a numbers the evaluator computes beside its declared metrics, a warning),
    kept as columns after the declared ones. ``learned`` is False for a run whose best
    validation score was at the task's trivial baseline (``learned_reason`` gives both
    numbers and the margin); such a run is never ``converged``.
    """

    spec: str | None = None
    task: str | None = None
    status: str | None = None
    error: str | None = None
    params: int | None = None
    gflops: float | None = None
    gflops_counted: float | None = None
    latency_ms: float | None = None
    latency_iqr_ms: float | None = None
    latency_p90_ms: float | None = None
    fps: float | None = None
    throughput_ips: float | None = None
    peak_mem_mb: float | None = None
    threads: int | None = None
    load_avg: float | None = None
    timing_noisy: bool | None = None
    timing_noise_reason: str | None = None
    train_s: float | None = None
    val_s: float | None = None
    final_loss: float | None = None
    epochs: int | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    best_val: float | None = None
    converged: bool | None = None
    convergence_reason: str | None = None
    learned: bool | None = None
    learned_reason: str | None = None
    stopped_early: bool | None = None
    lr: float | None = None
    lr_source: str | None = None
    image_size: str | None = None
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    seed: int | None = None
    data: str | None = None
    limit: int | None = None
    normalize: str | None = None
    augment: bool | None = None
    compile: bool | None = None
    workers: int | None = None
    val_every: int | None = None
    patience: int | None = None
    encoder_init: str | None = None
    train_images: int | None = None
    val_images: int | None = None
    eval_images: int | None = None
    world_size: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    warning: str | None = None
    settings: str | None = None
    spec_file: str | None = None
    spec_hash: str | None = None
    job_key: str | None = None
    finished_at: str | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """The row as column -> value, in column order (metrics and extras flattened)."""
        record: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "metrics":
                record.update(self.metrics)
            elif f.name != "extra":
                record[f.name] = getattr(self, f.name)
        for name, value in self.extra.items():
            record.setdefault(name, value)
        return record

    def with_settings(self, settings: Mapping[str, Any]) -> ResultRow:
        """This row naming the job's ``settings`` (their JSON, exactly what the job key
        hashed) and holding their values in the columns of that name it left empty (a
        failed row's settings, the settings a job did not report): a value the job
        reported wins, as it is what the job used (``device: cuda`` -> ``cuda:0``)."""
        values = {
            name: value
            for name, value in settings.items()
            if name in _FIELDS and getattr(self, name) is None and _fits(name, value)
        }
        return dataclasses.replace(self, settings=settings_json(settings), **values)


_FIELDS = {f.name for f in dataclasses.fields(ResultRow)} - {"metrics", "extra"}

SeedFold = Literal["first", "median", "all", "any", "texts"]
SEED_FOLDS: dict[str, SeedFold] = {
    **dict.fromkeys(("params", "gflops", "gflops_counted"), "first"),
    **dict.fromkeys(
        (
            "latency_ms",
            "latency_iqr_ms",
            "latency_p90_ms",
            "fps",
            "throughput_ips",
            "peak_mem_mb",
            "train_s",
            "epochs_run",
            "best_epoch",
            "lr",
        ),
        "median",
    ),
    "converged": "all",
    "learned": "all",
    "timing_noisy": "any",
    "convergence_reason": "texts",
    "learned_reason": "texts",
    "timing_noise_reason": "texts",
}
"""How a column folds over a job's seeds when the report shows one row per spec and
setting (metrics fold as their task declares): ``first`` for what the seed cannot change
(cost on paper), ``median`` for measurements (robust to one noisy run), ``all``/``any`` for
yes/no flags (converged only if every seed did; learned only if every seed did, since a
mean that averages in a seed at the trivial baseline is not the architecture's score;
noisy if any seed was), ``texts`` for reasons (the distinct ones joined)."""


@functools.cache
def _field_hints() -> dict[str, Any]:
    return typing.get_type_hints(ResultRow)


def column_kinds() -> dict[str, ColumnKind]:
    """Every declared column and its kind: the fields' annotations, the metrics floats
    (read afresh each time, so a task added at run time brings its columns)."""
    hints = _field_hints()
    kinds: dict[str, ColumnKind] = {}
    for f in dataclasses.fields(ResultRow):
        if f.name == "metrics":
            kinds.update({column: "float" for column in metric_columns()})
        elif f.name != "extra":
            kinds[f.name] = _kind(hints[f.name])
    return kinds


def result_columns() -> list[str]:
    """The declared columns in table order."""
    return list(column_kinds())


def metric_columns() -> list[str]:
    """Each task's metric columns, tasks in their order, each column once."""
    columns = (metric.column for task in task_classes() for metric in task.metrics)
    return list(dict.fromkeys(columns))


def _kind(annotation: Any) -> ColumnKind:
    kinds = {str: "text", bool: "bool", int: "int", float: "float"}
    for python_type, kind in kinds.items():  # bool before int: a bool is an int
        if python_type in typing.get_args(annotation) or annotation is python_type:
            return kind  # type: ignore[return-value]
    raise TypeError(f"no column kind for {annotation!r}")


def _fits(name: str, value: Any) -> bool:
    """Whether a setting's value has its column's kind (``lr: "auto"`` does not fit a
    float column: the ``settings`` column keeps it)."""
    kind = column_kinds()[name]
    if value is None or kind == "text":
        return value is None or isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and (kind == "float" or isinstance(value, int))


def group_key(record: Mapping[str, Any]) -> tuple[str, ...] | None:
    """What the seeds of one job share: spec, spec hash and every setting but the seed.

    None for a row without readable ``settings`` (version 1): the report then groups by
    its legacy columns.
    """
    text = record.get("settings")
    if not isinstance(text, str) or not text:
        return None
    try:
        settings = JobSettings.from_text(text).with_seed(0)
    except (SettingsError, TypeError, ValueError):
        return None
    return (str(record.get("spec")), str(record.get("spec_hash")), settings.as_text())


def verdict_flags(converged: Any, learned: Any, timing_noisy: Any) -> list[str]:
    """The words a finished row's line puts after its numbers (``bench``'s result line,
    ``search``'s trial line and front): not converged, learned nothing (its best validation
    score was at the task's trivial baseline), its timing noisy. Only an explicit False
    (True for the timing) says so: a value a row lacks says nothing."""
    flags = []
    if converged is False:
        flags.append("NOT CONVERGED")
    if learned is False:
        flags.append("LEARNED NOTHING")
    if timing_noisy is True:
        flags.append("timing noisy")
    return flags
