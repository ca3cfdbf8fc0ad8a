"""Step 1 of a job: the spec at the job's size, compiled, as an untrained model.

The seed is set before the model is built so its initial weights follow the job's seed;
``encoder_init`` then loads exactly as in :func:`compiler.compile_spec` (a bad checkpoint
is a :class:`~graphspec.SpecError`, so the job fails instead of training from scratch).
FLOPs are counted on the meta device, so the model that trains is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmarks.cost.measure import counted_gflops
from benchmarks.cost.memory_check import check_memory
from benchmarks.store.jobs import Job, job_image_size
from benchmarks.train.recipe import resolve_recipe
from compiler import GraphNet, compile_graph
from compiler.transfer import TransferReport, load_encoder_weights
from graphspec import Graph, Spec, Totals, load_spec, totals

__all__ = ["Built", "build"]


@dataclass
class Built:
    """A spec compiled at the job's input size, its untrained model and its cost on paper."""

    spec: Spec
    size: tuple[int, int]
    graph: Graph
    model: nn.Module
    static: Totals
    gflops_counted: float
    encoder_init: TransferReport | None = None  # what loading spec.encoder_init did


def build(job: Job, settings: Mapping[str, Any], device: torch.device | None = None) -> Built:
    """Load the spec at the job's size, compile it and build its (seeded) model; with a
    ``device``, first refuse a training step that cannot fit it (``memory_check``)."""
    spec = load_spec(job.spec_file)
    size = job_image_size(settings["image_size"], spec)
    spec = spec.with_input_size(size)
    torch.manual_seed(settings["seed"])
    graph = compile_graph(spec)
    if device is not None:
        check_memory(graph, resolve_recipe(settings, spec).batch_size, device)
    model = GraphNet(graph)
    transfer = None if spec.encoder_init is None else load_encoder_weights(model, spec)
    return Built(spec, size, graph, model, totals(graph), counted_gflops(graph), transfer)
