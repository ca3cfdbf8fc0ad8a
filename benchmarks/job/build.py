"""Step 1 of a job: the spec at the job's size, compiled, as an untrained model.

The seed is set before the model is built so its initial weights follow the job's seed;
``encoder_init`` then loads exactly as in :func:`compiler.compile_spec` (a bad checkpoint
is a :class:`~graphspec.SpecError`, so the job fails instead of training from scratch).
FLOPs are counted on the meta device, so the model that trains is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from benchmarks.cost.measure import counted_gflops
from benchmarks.cost.memory_check import check_memory
from benchmarks.store.jobs import Job
from benchmarks.store.settings import JobSettings
from benchmarks.tasks import Task, task_for
from benchmarks.train.recipe import SweepRecipe, resolve_recipe
from compiler import build_network, compile_graph
from compiler.transfer import TransferReport, load_encoder_weights
from graphspec import Graph, Spec, Totals, load_spec, totals

__all__ = ["Built", "build", "sweep_recipe"]


def sweep_recipe(settings: JobSettings) -> SweepRecipe:
    """The recipe values the job's settings give every spec (a ``train:`` section wins)."""
    return SweepRecipe(lr=settings.lr, epochs=settings.epochs, batch_size=settings.batch_size)


@dataclass
class Built:
    """A spec compiled at the job's input size, its untrained model and its cost on paper."""

    spec: Spec
    size: tuple[int, int]
    graph: Graph
    model: nn.Module
    task: Task
    static: Totals
    gflops_counted: float
    encoder_init: TransferReport | None = None  # what loading spec.encoder_init did


def build(job: Job, settings: JobSettings, device: torch.device | None = None) -> Built:
    """Load the spec at the job's size, compile it and build its (seeded) model; with a
    ``device``, first refuse a training step that cannot fit it (``memory_check``)."""
    spec = load_spec(job.spec_file)
    size = settings.image_size_for(spec)
    spec = spec.with_input_size(size)
    torch.manual_seed(settings.seed)
    graph = compile_graph(spec)
    task = task_for(spec, graph)  # a spec no task serves fails before anything is built
    if device is not None:
        check_memory(graph, resolve_recipe(sweep_recipe(settings), spec).batch_size, device)
    model = build_network(graph)
    transfer = None if spec.encoder_init is None else load_encoder_weights(model, spec)
    static, counted = totals(graph), counted_gflops(graph)
    return Built(spec, size, graph, model, task, static, counted, transfer)
