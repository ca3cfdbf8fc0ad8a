"""The tasks a spec may name, and what the spec language checks of each.

A spec's ``task`` says what the network is for. The spec language knows three things of a
task (a :class:`TaskForm`): the head types that serve it, the output it is scored on and
whether a mirrored decoder may serve it. :mod:`graphspec.runnable` checks a spec against
its form, so ``check``, ``compile`` and ``bench`` accept the same specs. The harness's side
of a task (loss, evaluator, metrics) is a class in ``benchmarks/tasks/``; see
docs/adding-a-task.md.

Declaring a form (:func:`declare_task`) adds its name to the schema's ``task`` choices, as
defining an op class adds it to the ``op`` union.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

__all__ = ["TaskForm", "TaskName", "declare_task", "forget_task", "on_new_task", "task_forms"]

Output = Literal["map", "vector", "head"]


@dataclass(frozen=True)
class TaskForm:
    """What a spec of this task must look like.

    ``heads``: the head types that serve it (``None``: the spec may leave ``head`` out and
    the graph's own output is checked). ``output``: ``map`` is scored per pixel at the input
    size (``classes x H x W``), ``vector`` on ``[classes]`` scores, ``head`` by what the head
    pass builds and checks itself (a ``map`` task counts background among its classes).
    ``decoder``: whether a mirrored decoder may serve it.
    """

    name: str
    heads: tuple[str | None, ...]
    output: Output
    decoder: bool = False


_FORMS: dict[str, TaskForm] = {}
_ON_NEW_TASK: list[Callable[[], None]] = []


def task_forms() -> dict[str, TaskForm]:
    """The declared forms by task name, in declaration order."""
    return dict(_FORMS)


def on_new_task(callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever the declared tasks change (the schema rebuilds)."""
    _ON_NEW_TASK.append(callback)


def declare_task(form: TaskForm) -> TaskForm:
    """Make ``form.name`` a task a spec may name; returns the form."""
    _FORMS[form.name] = form
    for callback in _ON_NEW_TASK:
        callback()
    return form


def forget_task(name: str) -> None:
    """Undeclare a task (for tests that declare a toy one) and rebuild what depends on it."""
    _FORMS.pop(name, None)
    for callback in _ON_NEW_TASK:
        callback()


class _TaskNames:
    """Pydantic schema of ``task``: one of the declared names, built whenever the schema
    is (so a newly declared task is accepted)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.literal_schema(list(_FORMS))

    @classmethod
    def choices(cls) -> tuple[str, ...]:
        """The names a spec may use now (the spec reference lists them)."""
        return tuple(_FORMS)


TaskName = Annotated[str, _TaskNames]
"""A spec's ``task``: the name of a declared :class:`TaskForm`."""

SEGMENTATION = declare_task(
    TaskForm("segmentation", ("segmentation", "fcn", None), "map", decoder=True)
)
DETECTION = declare_task(TaskForm("detection", ("ssd", "yolo", "rcnn"), "head"))
"""Detection has no headless form: its loss, decoding and mAP read the anchor layout that
only a detection head (SSD, YOLO, R-CNN) records."""
CLASSIFICATION = declare_task(TaskForm("classification", ("classification", None), "vector"))
INSTANCE = declare_task(TaskForm("instance", ("rcnn",), "head"))
"""Instance segmentation: a two-stage head with a mask branch (Mask R-CNN)."""
