"""Where and in what precision a model runs: device, memory layout and bf16 autocast.

Shared by training and evaluation so both treat plain modules, ``torch.compile`` wrappers
and DDP wrappers alike; only ``parameters()``/``modules()`` and calls are used, never
model-specific attributes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["autocast", "move_batch", "prepare_model"]


def _contains_ddp(model: nn.Module) -> bool:
    # Walks submodules, so it also sees DDP inside a torch.compile wrapper.
    return any(isinstance(m, DistributedDataParallel) for m in model.modules())


def prepare_model(model: nn.Module, device: torch.device, channels_last: bool) -> None:
    """Move a bare model to the device/layout; DDP models were prepared by ``wrap_model``."""
    if _contains_ddp(model):
        return
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    model.to(device=device, memory_format=memory_format)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on ``device`` when enabled, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def move_batch(
    batch: Mapping[str, Any], device: torch.device | str, channels_last: bool
) -> dict[str, Any]:
    """Copy a batch's tensors (and lists of tensors) to ``device``.

    Only ``image`` is converted to channels_last: it is the one 4-D input convolutions see;
    masks and boxes keep their layout. ``non_blocking`` lets pinned host memory overlap the
    copy with compute on CUDA and is a no-op elsewhere.
    """
    device = torch.device(device)
    non_blocking = device.type == "cuda"
    moved: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, Tensor):
            moved[key] = value.to(device, non_blocking=non_blocking)
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
            moved[key] = [v.to(device, non_blocking=non_blocking) for v in value]
        else:
            moved[key] = value
    image = moved.get("image")
    if channels_last and isinstance(image, Tensor) and image.dim() == 4:
        moved["image"] = image.contiguous(memory_format=torch.channels_last)
    return moved
