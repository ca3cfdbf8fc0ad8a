"""The three ways a model is run: fp32 eager, bf16 autocast + channels_last, and the same
compiled with ``torch.compile``.

These are the settings ``graphspec bench`` trains with on CUDA (``amp`` and
``channels_last`` on, ``--compile`` optional), next to the plain fp32 baseline, so the
suite says what each step of the fast path buys. TF32 stays at PyTorch's defaults (cuDNN
convolutions may use it, matmuls do not), as in the harness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["COMPILED", "EAGER_MODES", "MODES", "Mode", "compiler_for"]


@dataclass(frozen=True)
class Mode:
    """How a model runs: bf16 autocast, channels_last memory and ``torch.compile``."""

    name: str
    amp: bool
    channels_last: bool
    compile: bool

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


FP32 = Mode("fp32", amp=False, channels_last=False, compile=False)
BF16_CL = Mode("bf16+cl", amp=True, channels_last=True, compile=False)
COMPILED = Mode("bf16+cl+compile", amp=True, channels_last=True, compile=True)
MODES = (FP32, BF16_CL, COMPILED)
EAGER_MODES = (FP32, BF16_CL)
"""The modes inference is timed in: a compiled model would compile again for batch 1 and
batch 32, which the suite's minutes cannot pay for every spec."""


def compiler_for(mode: Mode, backend: str) -> Callable[[nn.Module], nn.Module]:
    """What makes a module's runner in ``mode``: ``torch.compile`` with ``backend`` (the
    CPU dry run passes ``eager``: Dynamo traces, nothing is generated), else the module.

    Dynamo's caches are reset first: every graphspec network runs the same ``forward``
    code, and after ``recompile_limit`` networks Dynamo would silently fall back to eager.
    """
    if not mode.compile:
        return lambda module: module
    torch._dynamo.reset()
    return lambda module: torch.compile(module, backend=backend)  # type: ignore[return-value]
