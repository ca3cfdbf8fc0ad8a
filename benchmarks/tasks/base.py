"""What a benchmark task means to the training loop: how to run, score and evaluate a model.

``train.py`` knows nothing about segmentation or detection; it only calls the four hooks of
:class:`Task` (``forward``, ``loss``, ``evaluator`` and, through the evaluator, ``update`` /
``state_tensors`` / ``compute``). A detection task therefore plugs in by subclassing
:class:`Task`, without touching the loop: its ``forward`` can pass targets to the model and
its evaluator can expose whatever count tensors its metric needs summed across ranks.

Evaluators keep their statistics in tensors that are *sums over samples* so that evaluating
shards on several ranks and all-reducing with ``SUM`` gives exactly the single-process
result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from benchmarks.data import Batch

__all__ = ["Batch", "Evaluator", "Task"]


@runtime_checkable
class Evaluator(Protocol):
    """Accumulates evaluation statistics over batches.

    ``state_tensors`` returns the live accumulator tensors (not copies): the caller sums them
    in place across ranks, then calls ``compute``, which must read them back.
    """

    def update(self, model_output: Any, batch: Batch) -> None: ...

    def state_tensors(self) -> list[Tensor]: ...

    def compute(self) -> dict[str, float]: ...


class Task(ABC):
    """The per-task interface used by :func:`benchmarks.train.loop.train` and ``evaluate``.

    ``metric`` is the key of :meth:`Evaluator.compute` that validation follows to pick the
    best epoch and decide early stopping (higher is better)."""

    name: str
    metric: str

    def forward(self, model: nn.Module, batch: Batch) -> Any:
        """Run the model on a batch; overridden by tasks whose models also take targets."""
        return model(batch["image"])

    @abstractmethod
    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        """Return scalar losses; ``"loss"`` is optimised, any other key is only logged."""

    @abstractmethod
    def evaluator(self, device: torch.device | str | None = None) -> Evaluator:
        """A fresh evaluator whose state tensors live on ``device`` (needed for NCCL)."""
