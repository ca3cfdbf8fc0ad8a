"""A trained model, ready for ``graphspec predict`` / ``val``: spec, weights, normalisation.

A model is named either by a bench job folder (``RUN/jobs/NAME``: its ``config.json``
records the spec file, the settings the job ran with and the normalisation, and
``best.pt`` holds the weights its test row was scored with) or by a spec file and a weights
file. Both are read by the shared loader (:mod:`benchmarks.inference.loader`), so a job
folder works from any working directory and refuses a spec edited since the job ran, and
weights load as everywhere else (bounded, memory-mapped, strictly, finite). The graph has
a fixed input size, so the spec is compiled at the size the job trained at; images of
another size are resized to it by the callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from benchmarks.data.names import class_names, source_class_names, spec_class_names
from benchmarks.data.normalize import Normalization, parse_normalization
from benchmarks.inference.loader import InferenceError, load_network, open_job
from benchmarks.store.layout import JobFolder
from benchmarks.tasks import Task, task_classes, task_for
from compiler import build_network, compile_graph
from compiler.emit.weights import WeightsError, load_weights
from graphspec import Graph, Spec, load_spec

__all__ = ["InferenceError", "LoadedModel", "compile_at", "load_model"]


@dataclass
class LoadedModel:
    """A spec compiled at its input size with trained weights, and how to feed it."""

    spec: Spec
    graph: Graph
    net: nn.Module
    task: Task
    normalization: Normalization
    data: str  # the data source the model was trained on ("shapes", "voc:PATH", ...)
    state: dict[str, torch.Tensor] = field(repr=False)
    seed: int = 0  # the job's seed: it picks the synthetic shapes of every split
    names: tuple[str, ...] | None = None
    """The class names the model carries, background first: those its job recorded in
    ``config.json``, else its spec's; None when neither names them (the data's serve)."""

    @property
    def size(self) -> tuple[int, int]:
        """The (height, width) every input image is resized to."""
        return (self.spec.input.height, self.spec.input.width)

    def class_names(
        self, data: str | None = None, data_names: Sequence[str] | None = None
    ) -> list[str]:
        """The names of the model's classes, background first, on ``data`` (default the
        model's own): the names it carries on its own data; else, or when it carries
        none, ``data``'s own (``data_names``, those of an opened split; read from the
        source when not given), else the source's built-in ones."""
        source = data or self.data
        if self.names is not None and source == self.data:
            return list(self.names)
        if data_names is None:
            data_names = source_class_names(source)
        return class_names(source, self.task.data_classes(self.spec), data_names=data_names)


def compile_at(
    spec: Spec, size: tuple[int, int], state: dict[str, torch.Tensor]
) -> tuple[Graph, nn.Module, Task]:
    """The spec compiled at ``size`` with ``state`` loaded strictly, in eval mode."""
    sized = spec.with_input_size(size)
    graph = compile_graph(sized, check_budget=False)
    net = build_network(graph)
    try:
        load_weights(net, state, "file")
    except WeightsError as exc:
        raise InferenceError(f"at input size {size[0]}x{size[1]}: {exc}") from None
    return graph, net.eval(), task_for(sized, graph)


class _Source(NamedTuple):
    """Where a model's parts come from: a job folder, or a spec file and its weights."""

    spec: Spec
    weights: Path
    normalization: Normalization
    data: str
    seed: int
    names: tuple[str, ...] | None  # recorded by the job; None: not recorded


def _from_job(job_dir: Path) -> _Source:
    """Spec (at the trained size), weights, normalisation, data, seed and recorded class
    names of a job folder."""
    opened = open_job(job_dir)
    job = opened.job
    if job.normalization is None:
        raise InferenceError(f"{JobFolder(job_dir).config}: no 'normalization' recorded")
    weights = JobFolder(job_dir).best_weights
    settings = job.settings
    return _Source(
        opened.spec, weights, job.normalization, settings.data, settings.seed, job.class_names
    )


def _from_spec(path: Path, weights: str | Path | None, normalize: str | None, data: str) -> _Source:
    """A spec file with its weights, normalised as bench's ``--normalize`` for ``data``."""
    if weights is None:
        raise InferenceError(f"{path} is a spec file: give its trained weights with --weights")
    try:
        normalization = parse_normalization(normalize or "dataset", data)
    except ValueError as exc:
        raise InferenceError(str(exc)) from None
    return _Source(load_spec(path), Path(weights), normalization, data, 0, None)


def _names(source: _Source, model: Path, classes: int) -> tuple[str, ...] | None:
    """The names the model carries: its job's record (which must name every class), else
    its spec's; None when neither names them."""
    if source.names is None:
        named = spec_class_names(source.spec.class_names, classes)
        return None if named is None else tuple(named)
    if len(source.names) != classes:
        raise InferenceError(
            f"{JobFolder(model).config}: 'class_names' names {len(source.names)} classes, but "
            f"the model has {classes} (background first)"
        )
    return source.names


def load_model(
    model: str | Path,
    weights: str | Path | None = None,
    *,
    normalize: str | None = None,
    data: str = "shapes",
) -> LoadedModel:
    """Load ``model``: a job folder (``weights`` and ``normalize`` must then be None), or
    a spec file with its ``weights`` (``normalize`` as bench's ``--normalize``, resolved
    for ``data``; default ``dataset``). Its class names are those the job recorded, else
    the spec's, else (:meth:`LoadedModel.class_names`) the data's."""
    path = Path(model)
    if path.is_dir():
        if weights is not None or normalize is not None:
            raise InferenceError(
                f"{path} is a job folder: it records its weights and normalisation "
                "(--weights and --normalize are for a spec file)"
            )
        source = _from_job(path)
    elif path.is_file():
        source = _from_spec(path, weights, normalize, data)
    else:
        raise InferenceError(f"no such job folder or spec file: {path}")
    spec = source.spec
    graph = compile_graph(spec, check_budget=False)
    task = task_for(spec, graph)
    if task.per_class_name is None:
        dense = ", ".join(dict.fromkeys(t.name for t in task_classes() if t.per_class_name))
        raise InferenceError(f"task '{spec.task}' has no predict/val yet (expected {dense})")
    names = _names(source, path, task.data_classes(spec))
    net, state = load_network(graph, source.weights)
    args = (source.normalization, source.data, state, source.seed, names)
    return LoadedModel(spec, graph, net, task, *args)
