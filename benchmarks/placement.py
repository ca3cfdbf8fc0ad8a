"""Where and in what precision a model runs: device, memory layout and bf16 autocast.

Shared by training and evaluation so both treat plain modules, ``torch.compile`` wrappers
and DDP wrappers alike; only ``parameters()``/``modules()`` and calls are used, never
model-specific attributes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["autocast", "prepare_model"]


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
