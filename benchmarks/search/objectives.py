"""What a search optimises: ``--objectives miou:max,gflops:min``.

An objective is a results column and a direction. Any number a job's row records may be
one: the task's metrics (``miou``, ``map``, ``map50``, ...) and the row's costs and timings
(``gflops``, ``params``, ``latency_ms``, ``throughput_ips``, ``peak_mem_mb``, ``train_s``).
A column the spec's task does not record is an error before any trial runs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from benchmarks.store.row import ResultRow
from benchmarks.tasks.base import Task

__all__ = [
    "COST_COLUMNS",
    "TIMED_COLUMNS",
    "Objective",
    "ObjectiveError",
    "default_objectives",
    "parse_objectives",
]

COST_COLUMNS = (
    "gflops",
    "params",
    "latency_ms",
    "latency_p90_ms",
    "fps",
    "throughput_ips",
    "peak_mem_mb",
    "train_s",
)
"""The row's numbers that are not the task's metrics and may be objectives."""
TIMED_COLUMNS = frozenset({"latency_ms", "latency_p90_ms", "fps", "throughput_ips", "train_s"})
"""Objectives measured with a clock: a row flagged ``timing_noisy`` says so next to them."""

assert set(COST_COLUMNS) <= {f.name for f in dataclasses.fields(ResultRow)}


class ObjectiveError(ValueError):
    """An ``--objectives`` value that names no column or no direction (one line)."""


@dataclass(frozen=True)
class Objective:
    """One column to maximise or minimise."""

    column: str
    direction: Literal["max", "min"]

    @property
    def optuna_direction(self) -> str:
        return "maximize" if self.direction == "max" else "minimize"

    @property
    def timed(self) -> bool:
        return self.column in TIMED_COLUMNS

    def value(self, record: Mapping[str, Any]) -> float | None:
        """The objective's value in a results record; None when it is missing or not finite."""
        value = record.get(self.column)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) else None

    def __str__(self) -> str:
        return f"{self.column}:{self.direction}"


def parse_objectives(text: str, task: type[Task]) -> list[Objective]:
    """``column:max|min`` pairs, comma separated, each a column ``task``'s rows record."""
    known = [m.column for m in task.metrics] + list(COST_COLUMNS)
    objectives = []
    for part in (p.strip() for p in text.split(",")):
        column, _, direction = part.partition(":")
        if direction not in ("max", "min"):
            raise ObjectiveError(
                f"--objectives: '{part}' needs a direction (expected COLUMN:max or COLUMN:min)"
            )
        if column not in known:
            raise ObjectiveError(
                f"--objectives: the {task.name} task records no column '{column}' "
                f"(expected one of {', '.join(known)})"
            )
        objectives.append(Objective(column, direction))  # type: ignore[arg-type]
    if len({o.column for o in objectives}) != len(objectives):
        raise ObjectiveError("--objectives: a column is named twice")
    return objectives


def default_objectives(task: type[Task]) -> list[Objective]:
    """The task's primary metric (its better way) and GFLOPs, minimised."""
    primary = task.metrics[0]
    return [Objective(primary.column, "max" if primary.higher_is_better else "min"),
            Objective("gflops", "min")]  # fmt: skip
