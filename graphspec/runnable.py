"""What the benchmark harness can run: the spec checked against its task's form.

A spec can be well formed and still be one ``graphspec bench`` cannot train: a detection
task without an SSD or YOLO head, a segmentation task with a detector's head, a classifier
whose graph ends in a feature map. ``compile_graph`` calls the first two checks below, so
``check``, ``compile``, ``summary`` and ``bench`` accept and reject the same specs, each
problem at the offending key's file:line:col.

* :func:`check_task_head` reads the spec alone and runs before the passes, so a mismatch
  is reported as such rather than as a confusing error from a head pass that should not run;
  :func:`check_class_names` too.
* :func:`check_output` reads the compiled graph: a ``map`` task (segmentation) is scored
  per pixel at the input size (``classes x H x W``), a ``vector`` task (classification) on
  a ``[classes]`` score vector (:class:`graphspec.tasks.TaskForm`).
* :func:`check_bench_classes` is a limit of the harness, not of the network, so only
  ``graphspec check`` calls it.
"""

from __future__ import annotations

from graphspec.errors import SpecError
from graphspec.ir import Graph
from graphspec.schema import Spec
from graphspec.tasks import TaskForm, task_forms


def _allowed(form: TaskForm) -> str:
    """``'ssd or yolo'``, ``'segmentation, fcn or no head'``: the accepted heads in words."""
    words = [h if h is not None else "no head" for h in form.heads]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def check_task_head(spec: Spec) -> None:
    """Raise :class:`SpecError` when the spec's head cannot serve its task."""
    form = task_forms()[spec.task]
    head = spec.head.type if spec.head is not None else None
    if head is None and None not in form.heads:
        raise SpecError.at(
            spec.source.locate(("task",)),
            f"task '{spec.task}' needs a head (expected head type {_allowed(form)}, got no head)",
        )
    if head not in form.heads:
        raise SpecError.at(
            spec.source.locate(("head", "type")),
            f"head '{head}' cannot serve task '{spec.task}' "
            f"(expected {_allowed(form)}, got {head})",
        )
    if spec.decoder is not None and not form.decoder:
        raise SpecError.at(
            spec.source.locate(("decoder",)),
            f"a decoder serves segmentation only (task '{spec.task}' reads its head from "
            "the encoder, so the decoder would be dropped; expected no decoder)",
        )


def check_class_names(spec: Spec) -> None:
    """Raise :class:`SpecError` at ``class_names`` when it does not name each of the
    spec's ``classes`` exactly once (a per-pixel task lists background first, since its
    ``classes`` counts it)."""
    names = spec.class_names
    if names is None:
        return
    if len(names) != spec.classes:
        first = ", background first" if task_forms()[spec.task].output == "map" else ""
        raise SpecError.at(
            spec.source.locate(("class_names",)),
            f"class_names names {len(names)} classes, but classes is {spec.classes} "
            f"(expected one name per class{first})",
        )
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise SpecError.at(
                spec.source.locate(("class_names", index)),
                f"class name '{name}' is given twice (expected each class named once, "
                f"first at index {seen[name]})",
            )
        seen[name] = index


def check_bench_classes(spec: Spec) -> None:
    """Raise :class:`SpecError` for a per-pixel task (segmentation) with one class: the
    harness's per-pixel loss counts background as class 0 and needs at least one more. A one-class
    graph is still a valid network (hand-worked tests compile one), so ``compile_graph``
    leaves this to ``graphspec check``."""
    if task_forms()[spec.task].output == "map" and spec.classes < 2:
        raise SpecError.at(
            spec.source.locate(("classes",)),
            f"{spec.task} needs background plus at least one class "
            f"(expected classes >= 2, got {spec.classes})",
        )


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def check_output(graph: Graph, spec: Spec) -> None:
    """Raise :class:`SpecError`, at the layer that makes the output, when the compiled
    graph's output is not what the spec's task scores."""
    output = task_forms()[spec.task].output
    if output == "map":
        expected: tuple[int, ...] = (spec.classes, spec.input.height, spec.input.width)
        what = f"{spec.task} output is not classes x H x W at the input size"
    elif output == "vector":
        expected = (spec.classes,)
        what = f"{spec.task} output is not a vector of class scores"
    else:
        return  # a head pass (SSD, YOLO) builds and checks the outputs itself
    node = graph[graph.output]
    if tuple(node.shape) != expected:
        raise SpecError.at(
            node.loc, f"{what} (expected {_shape(expected)}, got {_shape(tuple(node.shape))})"
        )
