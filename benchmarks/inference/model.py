"""A trained model, ready for ``graphspec predict`` / ``val``: spec, weights, normalisation.

A model is named either by a bench job folder (``RUN/jobs/NAME``: its ``config.json``
records the spec file, the settings the job ran with and the normalisation, and
``best.pt`` holds the weights its test row was scored with) or by a spec file and a weights
file. The graph has a fixed input size, so the spec is compiled at the size the job trained
at; images of another size are resized to it by the callers. Weights load strictly
(:func:`compiler.emit.weights.load_weights`), so a model that does not fit fails instead of
predicting with half-random weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks.data.normalize import Normalization, parse_normalization
from benchmarks.store.layout import JobFolder
from benchmarks.store.settings import JobSettings, SettingsError
from benchmarks.tasks import Task, task_classes, task_for
from compiler import GraphNet, compile_graph
from compiler.emit.weights import WeightsError, load_weights, read_state_dict
from graphspec import Graph, Spec, load_spec

__all__ = ["InferenceError", "LoadedModel", "compile_at", "load_model"]


class InferenceError(ValueError):
    """A model folder, spec or option that cannot be used for inference (one line)."""


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

    @property
    def size(self) -> tuple[int, int]:
        """The (height, width) every input image is resized to."""
        return (self.spec.input.height, self.spec.input.width)


def compile_at(
    spec: Spec, size: tuple[int, int], state: dict[str, torch.Tensor]
) -> tuple[Graph, nn.Module, Task]:
    """The spec compiled at ``size`` with ``state`` loaded strictly, in eval mode."""
    sized = spec.with_input_size(size)
    graph = compile_graph(sized, check_budget=False)
    net = GraphNet(graph)
    try:
        load_weights(net, state, "file")
    except WeightsError as exc:
        raise InferenceError(f"at input size {size[0]}x{size[1]}: {exc}") from None
    return graph, net.eval(), task_for(sized, graph)


def _read_config(job_dir: Path) -> dict[str, Any]:
    path = JobFolder(job_dir).config
    if not path.is_file():
        raise InferenceError(
            f"{job_dir} is not a bench job folder (expected RUN/jobs/NAME with config.json "
            "and best.pt)"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InferenceError(f"{path}: not valid JSON ({exc.msg})") from None


def _from_job(job_dir: Path) -> tuple[Spec, Path, Normalization, str, int]:
    """Spec (at the trained size), weights, normalisation, data and seed of a job folder."""
    config = _read_config(job_dir)
    norm = config.get("normalization")
    try:
        settings = JobSettings.from_json(config.get("settings", {}))
    except SettingsError as exc:
        raise InferenceError(f"{job_dir}/config.json: {exc}") from None
    spec_file = Path(config.get("spec_file", ""))
    if not spec_file.is_file():
        raise InferenceError(f"{job_dir}/config.json: spec file not found: {spec_file}")
    spec = load_spec(spec_file)
    if not isinstance(norm, dict):
        raise InferenceError(f"{job_dir}/config.json: no 'normalization' recorded")
    normalization = Normalization(norm["name"], tuple(norm["mean"]), tuple(norm["std"]))
    sized = spec.with_input_size(settings.image_size_for(spec))
    return sized, JobFolder(job_dir).best_weights, normalization, settings.data, settings.seed


def load_model(
    model: str | Path,
    weights: str | Path | None = None,
    *,
    normalize: str | None = None,
    data: str = "shapes",
) -> LoadedModel:
    """Load ``model``: a job folder (``weights`` and ``normalize`` must then be None), or
    a spec file with its ``weights`` (``normalize`` as bench's ``--normalize``, resolved
    for ``data``; default ``dataset``)."""
    path = Path(model)
    if path.is_dir():
        if weights is not None or normalize is not None:
            raise InferenceError(
                f"{path} is a job folder: it records its weights and normalisation "
                "(--weights and --normalize are for a spec file)"
            )
        spec, weights_path, normalization, data, seed = _from_job(path)
    elif path.is_file():
        if weights is None:
            raise InferenceError(f"{path} is a spec file: give its trained weights with --weights")
        spec, weights_path, seed = load_spec(path), Path(weights), 0
        try:
            normalization = parse_normalization(normalize or "dataset", data)
        except ValueError as exc:
            raise InferenceError(str(exc)) from None
    else:
        raise InferenceError(f"no such job folder or spec file: {path}")
    if task_for(spec, compile_graph(spec, check_budget=False)).per_class_name is None:
        dense = ", ".join(dict.fromkeys(t.name for t in task_classes() if t.per_class_name))
        raise InferenceError(f"task '{spec.task}' has no predict/val yet (expected {dense})")
    state = read_state_dict(weights_path)
    graph, net, task = compile_at(spec, (spec.input.height, spec.input.width), state)
    return LoadedModel(spec, graph, net, task, normalization, data, state, seed)
