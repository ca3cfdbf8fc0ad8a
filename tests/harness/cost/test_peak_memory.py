"""CPU peak memory: a large touched allocation shows up, and the high-water mark is reset."""

from __future__ import annotations

import pytest
import torch

from benchmarks.cost import peak_memory
from benchmarks.cost.peak_memory import peak_memory_mb

ALLOC_MB = 128


def _allocate_and_touch() -> float:
    big = torch.ones(ALLOC_MB * 2**20 // 4, dtype=torch.float32)  # ones() writes every page
    return float(big[-1])


def test_peak_memory_grows_with_a_large_allocation_on_cpu() -> None:
    baseline = peak_memory_mb(lambda: None, "cpu")
    peak = peak_memory_mb(_allocate_and_touch, "cpu")
    assert baseline > 0
    assert peak - baseline >= 0.8 * ALLOC_MB


def test_peak_memory_high_water_mark_is_reset_between_calls() -> None:
    if not peak_memory._reset_vm_hwm() or peak_memory._read_vm_hwm_kb() is None:
        pytest.skip("VmHWM reset via /proc/self/clear_refs not available here")
    peak = peak_memory_mb(_allocate_and_touch, "cpu")
    after = peak_memory_mb(lambda: None, "cpu")
    # Without the reset the second reading would still include the ALLOC_MB peak.
    assert peak - after >= 0.8 * ALLOC_MB
