"""``sweep.json``: the jobs a sweep planned, so a report can say what is missing.

Rewritten only when the plan changes, so resuming a finished run writes nothing and works
in a read-only run folder; ``created_at`` is then the first run's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.store.jobs import Job
from benchmarks.store.layout import RunFolder
from graphspec.atomic import atomic_write_text

__all__ = ["read_plan", "write_plan"]

PLAN_VERSION = 1


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def write_plan(run_dir: Path, jobs: Sequence[Job]) -> bool:
    """Atomically write ``sweep.json``: the planned jobs, so a report can say what is missing.

    Left alone (False) when it already lists the same jobs, so a resume writes nothing and
    works in a read-only run folder; ``created_at`` is then the first run's.
    """
    described = json.loads(json.dumps([job.describe() for job in jobs], default=str))
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        if read_plan(run_dir) == described:
            return False
    plan = {"version": PLAN_VERSION, "created_at": _now(), "jobs": described}
    atomic_write_text(RunFolder(run_dir).plan, json.dumps(plan, indent=2, default=str) + "\n")
    return True


def read_plan(run_dir: str | Path) -> list[dict[str, Any]]:
    """Planned jobs recorded by ``write_plan`` ([] when there is no plan yet)."""
    path = RunFolder(Path(run_dir)).plan
    if not path.exists():
        return []
    return list(json.loads(path.read_text(encoding="utf-8"))["jobs"])
