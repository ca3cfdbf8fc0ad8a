"""What the benchmark harness can run: which heads serve each task, and what output it scores.

A spec can be well formed and still be one ``graphspec bench`` cannot train: a detection
task without an SSD or YOLO head, a segmentation task with a detector's head, a classifier
whose graph ends in a feature map. ``compile_graph`` calls the first two checks below, so
``check``, ``compile``, ``summary`` and ``bench`` accept and reject the same specs, each
problem at the offending key's file:line:col.

* :func:`check_task_head` reads the spec alone and runs before the passes, so a mismatch
  is reported as such rather than as a confusing error from a head pass that should not run.
* :func:`check_output` reads the compiled graph: segmentation is scored per pixel at the
  input size (``classes x H x W``), classification on a ``[classes]`` score vector.
* :func:`check_bench_classes` is a limit of the harness, not of the network, so only
  ``graphspec check`` calls it.
"""

from __future__ import annotations

from graphspec.errors import SpecError
from graphspec.ir import Graph
from graphspec.schema import Spec

TASK_HEADS: dict[str, tuple[str | None, ...]] = {
    "segmentation": ("segmentation", "fcn", None),
    "detection": ("ssd", "yolo"),
    "classification": ("classification", None),
}
"""Head types each task accepts; ``None`` means the spec may leave ``head`` out (the graph's
own output is then checked by :func:`check_output`). Detection has no headless form: its
loss, decoding and mAP read the anchor layout that only an SSD or YOLO head records."""


def _allowed(task: str) -> str:
    """``'ssd or yolo'``, ``'segmentation, fcn or no head'``: the accepted heads in words."""
    words = [h if h is not None else "no head" for h in TASK_HEADS[task]]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def check_task_head(spec: Spec) -> None:
    """Raise :class:`SpecError` when the spec's head cannot serve its task."""
    head = spec.head.type if spec.head is not None else None
    if head is None and None not in TASK_HEADS[spec.task]:
        raise SpecError.at(
            spec.source.locate(("task",)),
            f"task '{spec.task}' needs a head (expected head type {_allowed(spec.task)}, "
            "got no head)",
        )
    if head not in TASK_HEADS[spec.task]:
        raise SpecError.at(
            spec.source.locate(("head", "type")),
            f"head '{head}' cannot serve task '{spec.task}' "
            f"(expected {_allowed(spec.task)}, got {head})",
        )
    if spec.decoder is not None and spec.task != "segmentation":
        raise SpecError.at(
            spec.source.locate(("decoder",)),
            f"a decoder serves segmentation only (task '{spec.task}' reads its head from "
            "the encoder, so the decoder would be dropped; expected no decoder)",
        )


def check_bench_classes(spec: Spec) -> None:
    """Raise :class:`SpecError` for a segmentation spec with one class: the harness's
    per-pixel loss counts background as class 0 and needs at least one more. A one-class
    graph is still a valid network (hand-worked tests compile one), so ``compile_graph``
    leaves this to ``graphspec check``."""
    if spec.task == "segmentation" and spec.classes < 2:
        raise SpecError.at(
            spec.source.locate(("classes",)),
            "segmentation needs background plus at least one class "
            f"(expected classes >= 2, got {spec.classes})",
        )


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def check_output(graph: Graph, spec: Spec) -> None:
    """Raise :class:`SpecError`, at the layer that makes the output, when the compiled
    graph's output is not what the spec's task scores."""
    if spec.task == "segmentation":
        expected: tuple[int, ...] = (spec.classes, spec.input.height, spec.input.width)
        what = "segmentation output is not classes x H x W at the input size"
    elif spec.task == "classification":
        expected = (spec.classes,)
        what = "classification output is not a vector of class scores"
    else:
        return  # the SSD and YOLO head passes build and check the detection outputs
    node = graph[graph.output]
    if tuple(node.shape) != expected:
        raise SpecError.at(
            node.loc, f"{what} (expected {_shape(expected)}, got {_shape(tuple(node.shape))})"
        )
