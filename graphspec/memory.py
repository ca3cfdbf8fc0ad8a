"""How much memory one training step of a graph needs, estimated from its static shapes.

The harness asks this before it builds a model (:func:`benchmarks.job.run.run_job`), so a
spec whose sizes are far beyond the device is refused with a one-line reason instead of
reaching the allocator (a 1 TB request either fails deep inside PyTorch or, on the CPU,
sends the machine into swap). It needs only the graph, so it lives with the spec language.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from graphspec.ir import Graph

__all__ = ["OPTIMIZER_COPIES", "MemoryEstimate", "format_bytes", "training_memory_bytes"]

OPTIMIZER_COPIES = 4
"""Copies of every parameter a step with AdamW holds: the weights, their gradients and
AdamW's two moment buffers (``exp_avg`` and ``exp_avg_sq``)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """The two parts of :func:`training_memory_bytes`, in elements (not bytes)."""

    params: int
    """Parameters of the graph, a tied weight counted once."""
    activations: int
    """Output elements of every node, summed, for ONE sample (multiply by the batch)."""

    def bytes(self, batch_size: int, dtype_bytes: int = 4) -> int:
        """Bytes of one training step at ``batch_size``: see :func:`training_memory_bytes`."""
        elements = OPTIMIZER_COPIES * self.params + batch_size * self.activations
        return elements * dtype_bytes


def estimate(graph: Graph) -> MemoryEstimate:
    """Parameter and per-sample activation element counts of ``graph``."""
    params = sum(node.own_params for node in graph)
    layout = graph.detection.two_stage if graph.detection is not None else None
    rois = layout.train_rois if layout is not None else 0
    activations = sum(
        math.prod(node.shape) * (rois if node.per_roi else 1) for node in graph if node.shape
    )
    return MemoryEstimate(params=params, activations=activations)


def training_memory_bytes(graph: Graph, batch_size: int, dtype_bytes: int = 4) -> int:
    """Bytes one training step of ``graph`` at ``batch_size`` needs, estimated.

    ``4 x params + batch_size x sum(output elements of every node)``, times ``dtype_bytes``.

    * Parameters: AdamW keeps four copies of each (weights, gradients, two moments,
      :data:`OPTIMIZER_COPIES`); tied weights count once (``Node.own_params``).
    * Activations: autograd keeps (about) every node's output for the backward pass, the
      input image included, so the forward's peak is roughly the sum of all outputs. Some
      ops keep less (an in-place ReLU shares its input's storage) and some keep more (a
      max-pool's indices, a conv's workspace, the backward's transient gradients); the two
      roughly cancel for the CNNs specs describe, and the estimate is meant to catch specs
      that are off by orders of magnitude, not to predict the allocator's peak to the byte.
    * A two-stage detector's per-RoI nodes (RoI op, box head) hold one output per RoI: they
      count ``sampling.rois`` times per image, the RoIs a training image sends through.

    Mixed precision (bf16 autocast) halves the activations; the harness passes the default
    4 bytes either way, so the estimate errs on the safe (larger) side.
    """
    return estimate(graph).bytes(batch_size, dtype_bytes)


def format_bytes(count: float) -> str:
    """``1.15 TB``, ``7.6 GB``, ``512 MB``: decimal units, three significant digits."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{int(count)} B"
