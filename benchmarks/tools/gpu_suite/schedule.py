"""The order a timing part measures in, within its time budget.

Eager modes of every subject come first and compiled training last, because a compile costs
tens of seconds of CPU and the eager numbers of every model are worth more than the compiled
number of one. Each unit (one subject, one mode, training or inference) is recorded the
moment it ends; a unit that fails (out of memory, an op without a CUDA kernel) is recorded
with its error and the rest go on; units the budget cannot fit are recorded as skipped.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.cost.timing import TimingPolicy
from benchmarks.tools.gpu_suite import records
from benchmarks.tools.gpu_suite.deadline import Deadline
from benchmarks.tools.gpu_suite.measure import inference, release, train_step
from benchmarks.tools.gpu_suite.modes import COMPILED, EAGER_MODES, Mode
from benchmarks.tools.gpu_suite.subjects import Subject

__all__ = ["Plan", "Recorder", "error_text", "run_plan"]


@dataclass
class Recorder:
    """Where a part's results go: a JSON-lines file and a Markdown fragment that
    ``render`` rebuilds from all records after each one."""

    jsonl: Path
    fragment: Path
    title: str
    render: Callable[[list[dict[str, Any]]], str]

    def add(self, record: dict[str, Any]) -> None:
        records.append(self.jsonl, record)
        body = self.render(records.read(self.jsonl))
        records.write_fragment(self.fragment, self.title, body)


@dataclass(frozen=True)
class Plan:
    """What to measure and how: subject names, their factory, the device and timing
    policy, the compile backend, the inference batch and what a unit needs to start."""

    names: Sequence[str]
    make: Callable[[str], Subject]
    device: torch.device
    policy: TimingPolicy
    backend: str = "inductor"
    infer_batch: int = 32
    eager_needs_s: float = 10.0
    compile_needs_s: float = 40.0
    compile_first: Sequence[str] = ()
    """Subjects compiled before the others, when the budget may not reach every one."""


def error_text(error: BaseException) -> str:
    """The error's type and the first line of its message (a table cell)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:200]


def _unit(
    plan: Plan, subject: Subject, mode: Mode, kind: str, deadline: Deadline
) -> dict[str, Any]:
    """Run one unit and return its record (measurements, or the error / skip reason)."""
    shape = subject.image_shape
    record: dict[str, Any] = {
        "subject": subject.name,
        "mode": mode.name,
        "kind": kind,
        "batch": subject.train_batch,
        "input": f"{shape[1]}x{shape[2]}",
    }
    needed = plan.compile_needs_s if mode.compile else plan.eager_needs_s
    if not deadline.allows(needed):
        return record | {"skipped": f"time budget ({deadline.left():.0f} s left)"}
    try:
        if kind == "train":
            record |= train_step(subject, mode, plan.device, plan.policy, plan.backend)
        else:
            record |= inference(subject, mode, plan.device, plan.policy, plan.infer_batch)
    except Exception as error:  # one unit's failure must not end the part
        traceback.print_exc()
        record["error"] = error_text(error)
    finally:
        release(plan.device)
    print(f"{subject.name} {mode.name} {kind}: {record}", flush=True)
    return record


def _subjects(plan: Plan, recorder: Recorder) -> dict[str, Subject]:
    """Build every subject once (CPU models and batches); a spec that fails to build is
    recorded once and left out."""
    built = {}
    for name in plan.names:
        try:
            built[name] = plan.make(name)
        except Exception as error:
            traceback.print_exc()
            recorder.add(
                {"subject": name, "mode": "-", "kind": "build", "error": error_text(error)}
            )
    return built


def run_plan(plan: Plan, recorder: Recorder, deadline: Deadline) -> int:
    """Measure every subject of ``plan`` (eager training and inference, then compiled
    training) and record each unit; returns how many units failed."""
    subjects = _subjects(plan, recorder)
    failures = len(plan.names) - len(subjects)
    units = [(s, m, k) for s in subjects.values() for m in EAGER_MODES for k in ("train", "infer")]
    first = [name for name in plan.compile_first if name in subjects]
    order = first + [name for name in subjects if name not in first]
    units += [(subjects[name], COMPILED, "train") for name in order]
    for subject, mode, kind in units:
        record = _unit(plan, subject, mode, kind, deadline)
        failures += "error" in record
        recorder.add(record)
    return failures
