"""The compiler driver: spec -> graph IR -> passes, in one explicit order -> ``nn.Module``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from compiler.emit import GraphNet
from compiler.passes import (
    add_segmentation_head,
    add_skips,
    add_ssd_head,
    add_yolo_head,
    fc_to_conv,
    mirror_decoder,
)
from compiler.transfer import load_encoder_weights
from graphspec import Graph, Spec, build_graph, enforce_budget, load_spec
from graphspec.runnable import check_output, check_task_head

Pass = Callable[[Graph, Spec], Graph]


@dataclass(frozen=True)
class PassStep:
    """A pass and the condition under which the driver runs it (passes that read a spec
    section, such as ``decoder`` or ``head``, also return early without one)."""

    run: Pass
    applies: Callable[[Spec], bool] = lambda spec: True


def _fully_convolutional(spec: Spec) -> bool:
    """Dense prediction needs maps, not vectors: segmentation and SSD convert FC layers."""
    return spec.task == "segmentation" or (spec.head is not None and spec.head.type == "ssd")


PASSES: tuple[PassStep, ...] = (
    PassStep(fc_to_conv, _fully_convolutional),
    PassStep(mirror_decoder),
    PassStep(add_skips),
    PassStep(add_ssd_head),
    PassStep(add_yolo_head),
    PassStep(add_segmentation_head),
)
"""The pass order: FC -> conv, then the decoder and its skips, then the head."""


def compile_graph(spec: Spec, *, check_budget: bool = True) -> Graph:
    """Run every pass the spec asks for and return the final graph IR.

    The head must fit the task (checked first, so no head pass runs for the wrong task) and
    the final output must be what the task scores (see :mod:`graphspec.runnable`), so every
    command built on this (check, compile, summary, bench) accepts the same specs."""
    check_task_head(spec)
    graph = build_graph(spec, check_budget=False)
    for step in PASSES:
        if step.applies(spec):
            graph = step.run(graph, spec)
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
    spec = spec_or_path if isinstance(spec_or_path, Spec) else load_spec(spec_or_path)
    model = GraphNet(compile_graph(spec))
    if load_weights and spec.encoder_init is not None:
        base = Path(spec.source.file).parent if spec.source.file[:1] != "<" else Path.cwd()
        model.encoder_init_report = load_encoder_weights(model, spec, base)
    return model
