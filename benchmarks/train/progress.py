"""The training loop's step bar, kept apart so the loop reads as the steps it takes.

Shown on rank 0 on a terminal only: logs, CI output and the other ranks of a DDP job stay
free of it, whatever ``TrainConfig.progress`` says. It counts training steps only; which
phase a job is in (train, evaluate, time) and the sweep's ETA are the sweep's phase lines
(``on_phase`` of :func:`benchmarks.job.run.run_job`), printed with or without a terminal.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

from benchmarks.runtime.distributed import current_rank
from benchmarks.train.config import TrainConfig

__all__ = ["Progress"]


def _progress_enabled(config: TrainConfig) -> bool:
    return config.progress and current_rank() == 0 and sys.stdout.isatty()


class Progress:
    """One bar over every step of a run, described with the current epoch."""

    def __init__(self, config: TrainConfig, total_steps: int) -> None:
        self.desc, self.epochs = config.desc, config.epochs
        self.bar = tqdm(
            total=total_steps,
            desc=config.desc,
            unit="step",
            file=sys.stdout,
            dynamic_ncols=True,
            disable=not _progress_enabled(config),
        )

    def start_epoch(self, epoch: int) -> None:
        self.bar.set_description(f"{self.desc} ep {epoch + 1}/{self.epochs}", refresh=False)

    def advance(self, done: int, per_epoch: int, mean_loss: float) -> None:
        """Count one step, the ``done``-th of ``per_epoch`` in this epoch, and its mean loss."""
        self.bar.set_postfix(step=f"{done}/{per_epoch}", loss=f"{mean_loss:.4f}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
