"""Tasks: what a model is asked to do, and how its answers are scored.

One file per task, each a :class:`~benchmarks.tasks.base.Task` subclass that declares its
metrics and implements its loss, evaluator and predictions (docs/adding-a-task.md).
:data:`TASKS` lists them in the order the report shows them; :func:`task_for` picks the one
that serves a spec, :func:`task_class` the one a results row names.
"""

from __future__ import annotations

from benchmarks.tasks.base import Metric, Task
from benchmarks.tasks.classification import ClassificationTask
from benchmarks.tasks.detection import SSDTask, YOLOTask
from benchmarks.tasks.instance import InstanceTask
from benchmarks.tasks.segmentation import SegmentationTask
from benchmarks.tasks.two_stage import TwoStageTask
from graphspec import Graph, Spec, SpecError

__all__ = ["TASKS", "Metric", "Task", "task_class", "task_classes", "task_for"]

TASKS: tuple[type[Task], ...] = (
    SegmentationTask,
    SSDTask,
    YOLOTask,
    TwoStageTask,
    InstanceTask,
    ClassificationTask,
)
"""Every task the harness runs, in report order (the first class of a name wins)."""

FALLBACK_METRIC = Metric("accuracy", "accuracy", "Accuracy (fraction)")
"""What the report ranks a task it does not know by (a hand-made results table)."""


def task_classes() -> tuple[type[Task], ...]:
    """:data:`TASKS` as it is now (read at call time, so a task added by a test counts)."""
    return TASKS


def task_class(name: str) -> type[Task] | None:
    """The class of the task a results row names (``task`` column); None if unknown."""
    return next((task for task in task_classes() if task.name == name), None)


def task_for(spec: Spec, graph: Graph) -> Task:
    """The task that trains ``spec`` (compiled as ``graph``): the first of :data:`TASKS`
    that serves it; a SpecError at ``task`` when none does."""
    served = next((task for task in task_classes() if task.serves(spec, graph)), None)
    if served is None:
        names = ", ".join(dict.fromkeys(task.name for task in task_classes()))
        raise SpecError.at(
            spec.source.locate(("task",)),
            f"task '{spec.task}' cannot be benchmarked with this head (the harness runs {names})",
        )
    return served.for_spec(spec, graph)
