"""Peak memory of one call: CUDA allocator peak, or the process's peak resident set on CPU.

Kept apart from :mod:`benchmarks.cost.timing` because it answers a different question (how much
memory a forward pass needs) with OS- and device-specific counters.
"""

from __future__ import annotations

import gc
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = ["peak_memory_mb"]

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _read_vm_hwm_kb() -> int | None:
    """Resident-set high-water mark (VmHWM) of this process in KiB, or None off Linux."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_vm_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0). Returns False when not possible."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _ru_maxrss_mb() -> float:
    """Lifetime peak RSS from getrusage; ru_maxrss is KiB on Linux but bytes on macOS."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def peak_memory_mb(fn: Callable[[], Any], device: torch.device | str | None = None) -> float:
    """Run ``fn()`` once and return the peak memory it needed, in MiB.

    Meaning depends on the device:

    * CUDA: the peak of ``torch.cuda.max_memory_allocated`` during ``fn`` after resetting the
      peak counter, i.e. tensor memory handed out by PyTorch's caching allocator (not the
      allocator's reserved pool nor the CUDA context). It includes tensors alive before
      ``fn`` (e.g. weights), since those occupy the device during the call.
    * CPU on Linux: the process's peak resident set size (VmHWM) during ``fn``, after resetting
      the high-water mark through ``/proc/self/clear_refs``. This is whole-process RSS: the
      interpreter, torch libraries and weights are included, so compare values between models
      measured the same way rather than reading them as the model's own footprint.
    * CPU elsewhere, or when the reset is not permitted: ``ru_maxrss``, the lifetime peak of
      the process, which can only overestimate the peak of ``fn``.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        fn()
        torch.cuda.synchronize(dev)
        return torch.cuda.max_memory_allocated(dev) / 2**20

    gc.collect()
    if _reset_vm_hwm():
        fn()
        hwm_kb = _read_vm_hwm_kb()
        if hwm_kb is not None:
            return hwm_kb / 1024
    else:
        fn()
    return _ru_maxrss_mb()
