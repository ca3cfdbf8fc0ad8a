"""The compiler driver: spec -> graph IR -> passes, in one explicit order -> ``nn.Module``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from compiler.passes import (
    add_rcnn_head,
    add_segmentation_head,
    add_skips,
    add_ssd_head,
    add_yolo_head,
    build_spec,
    fc_to_conv,
    mirror_decoder,
)
from graphspec import Graph, Spec, SpecError, build_graph, enforce_budget, load_spec
from graphspec.gc_pause import paused_gc
from graphspec.ir_check import GraphCheckError
from graphspec.limits import DEFAULT_LIMITS, Limits, enforce_limits
from graphspec.runnable import check_class_names, check_output, check_task_head

if TYPE_CHECKING:
    from torch import nn

Pass = Callable[[Graph, Spec], Graph]


@dataclass(frozen=True)
class PassStep:
    """A pass and the condition under which the driver runs it (passes that read a spec
    section, such as ``decoder`` or ``head``, also return early without one)."""

    run: Pass
    section: str
    """The spec key that asks for the pass: an error in what it derives is reported there."""
    applies: Callable[[Spec], bool] = lambda spec: True

    @property
    def name(self) -> str:
        """The pass's function name, which a broken-graph error reports."""
        return getattr(self.run, "__name__", repr(self.run))

    def apply(self, graph: Graph, spec: Spec) -> Graph:
        """Run the pass; a layer it cannot construct (pydantic refused a derived field) is
        a :class:`SpecError` at ``section``, never a raw ValidationError."""
        try:
            return self.run(graph, spec)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "value"
            got = repr(first.get("input"))
            detail = first["msg"] if got in first["msg"] else f"{first['msg']}, got {got}"
            raise SpecError.at(
                spec.source.locate((self.section,)),
                f"a layer derived for `{self.section}` is out of range "
                f"({exc.title}.{field}: {detail})",
            ) from None


def _fully_convolutional(spec: Spec) -> bool:
    """Dense prediction needs maps, not vectors: segmentation and SSD convert FC layers."""
    return spec.task == "segmentation" or (spec.head is not None and spec.head.type == "ssd")


PASSES: tuple[PassStep, ...] = (
    PassStep(fc_to_conv, "encoder", _fully_convolutional),
    PassStep(mirror_decoder, "decoder"),
    PassStep(add_skips, "decoder"),
    PassStep(add_ssd_head, "head"),
    PassStep(add_yolo_head, "head"),
    PassStep(add_rcnn_head, "head"),
    PassStep(add_segmentation_head, "head"),
)
"""The pass order: FC -> conv, then the decoder and its skips, then the head."""


def _check(graph: Graph, after: str) -> None:
    """:meth:`Graph.check`, naming the step that left the graph broken: a compiler bug,
    caught where it happened rather than as a crash in a later pass or in emission."""
    try:
        graph.check()
    except GraphCheckError as exc:
        raise GraphCheckError(f"{after} left a broken graph: {exc}") from None


@paused_gc()  # see graphspec.gc_pause: half the time of a big compile otherwise
def compile_graph(
    spec: Spec, *, check_budget: bool = True, limits: Limits = DEFAULT_LIMITS
) -> Graph:
    """Run every pass the spec asks for and return the final graph IR.

    The head must fit the task (checked first, so no head pass runs for the wrong task) and
    the final output must be what the task scores (see :mod:`graphspec.runnable`), so every
    command built on this (check, compile, summary, bench) accepts the same specs. The
    nodes the passes add meet ``limits`` too (checked after each pass)."""
    check_task_head(spec)
    check_class_names(spec)
    graph = build_graph(build_spec(spec), check_budget=False, limits=limits)
    _check(graph, "build_graph")
    for step in PASSES:
        if step.applies(spec):
            rewritten = step.apply(graph, spec)
            _check(rewritten, f"pass {step.name}")
            if rewritten is not graph:  # a pass that does not apply returns its input
                enforce_limits(rewritten, limits)
            graph = rewritten
    check_output(graph, spec)
    if check_budget:
        enforce_budget(graph, spec)
    return graph


def compile_spec(
    spec_or_path: Spec | str | os.PathLike[str], *, load_weights: bool = True
) -> nn.Module:
    """Compile a spec (object, path or YAML text) into a runnable ``nn.Module``.

    For segmentation the module maps ``[N, C, H, W]`` images to ``[N, classes, H, W]``
    logits at the input's exact size. ``encoder_init`` weights are loaded unless
    ``load_weights`` is false."""
    from compiler.emit import build_network  # torch only here: compile_graph runs without it
    from compiler.transfer import load_encoder_weights

    spec = spec_or_path if isinstance(spec_or_path, Spec) else load_spec(spec_or_path)
    model = build_network(compile_graph(spec))
    if load_weights and spec.encoder_init is not None:
        base = Path(spec.source.file).parent if spec.source.file[:1] != "<" else Path.cwd()
        model.encoder_init_report = load_encoder_weights(model, spec, base)
    return model
