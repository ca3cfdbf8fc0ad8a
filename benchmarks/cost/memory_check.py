"""Refuse a job whose training step cannot fit the device, before its model exists.

Building the module is what would allocate the impossible tensors, so :func:`check_memory`
runs between compiling the graph and building the model (:func:`benchmarks.job.build.build`),
on the graph that build compiles anyway. The estimate is
:func:`graphspec.memory.training_memory_bytes` at the job's effective (per-rank) batch.
"""

from __future__ import annotations

import os

import torch

from graphspec import Graph
from graphspec.memory import format_bytes, training_memory_bytes

__all__ = ["DeviceMemoryError", "check_memory", "device_memory_bytes"]


class DeviceMemoryError(RuntimeError):
    """A job whose estimated training memory exceeds the device's (refused, not tried)."""


def device_memory_bytes(device: torch.device) -> int | None:
    """The memory a job on ``device`` can use at most: a GPU's total memory, the machine's
    physical RAM for the CPU (and for MPS, whose memory is the RAM); None when unknown."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return None


def check_memory(graph: Graph, batch_size: int, device: torch.device) -> None:
    """Raise :class:`DeviceMemoryError` when one training step of ``graph`` at
    ``batch_size`` is estimated to need more than ``device`` has."""
    need = training_memory_bytes(graph, batch_size)
    have = device_memory_bytes(device)
    if have is not None and need > have:
        raise DeviceMemoryError(
            f"needs ~{format_bytes(need)} for one training step at batch {batch_size} "
            f"(estimate), device has {format_bytes(have)}"
        )
