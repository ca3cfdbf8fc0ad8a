"""How the training loop decides that a run has diverged and its weights are unusable.

Two checks, each raising so that the sweep records the job as failed with the reason:

* within a step, a NaN or infinite loss raises :class:`NonFiniteLossError` (``train.py``
  checks it before the optimizer step, so the weights stay finite);
* after each epoch, :func:`check_epoch` raises :class:`DivergedError` when a parameter or
  buffer is no longer finite (e.g. a BatchNorm ``running_var`` of ``inf``, which a finite
  loss in train mode does not reveal but wrecks eval mode) or when the epoch's mean loss
  exceeds the first epoch's by more than a factor (default 10x): a loss that is still
  finite but has blown up.

:class:`DivergedError` subclasses :class:`NonFiniteLossError`, so one ``except`` clause
catches every diverged run, whichever check fired.
"""

from __future__ import annotations

from itertools import chain

import torch
from torch import Tensor, nn

from benchmarks.runtime.distributed import all_reduce_

__all__ = [
    "DEFAULT_DIVERGENCE_FACTOR",
    "DivergedError",
    "NonFiniteLossError",
    "check_epoch",
    "loss_growth",
    "non_finite_tensor",
]

DEFAULT_DIVERGENCE_FACTOR = 10.0
"""An epoch loss above this multiple of the first epoch's loss counts as diverged."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run is diverged and its weights are unusable."""


class DivergedError(NonFiniteLossError):
    """The run diverged although its loss stayed finite; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _float_tensors(model: nn.Module) -> list[tuple[str, Tensor]]:
    named = chain(model.named_parameters(), model.named_buffers())
    return [(name, tensor) for name, tensor in named if tensor.is_floating_point()]


def non_finite_tensor(model: nn.Module) -> str | None:
    """``'name' (nan|inf)`` of the first parameter or buffer holding NaN/inf, else ``None``.

    Under DDP the verdict is summed over ranks (one small all-reduce), so every rank raises
    together even if only one rank's buffers went bad; that rank's name is then unknown to
    the others, which say so. One host sync for the whole model, not one per tensor.
    """
    tensors = _float_tensors(model)
    if not tensors:
        return None
    device = tensors[0][1].device
    finite = torch.stack([torch.isfinite(t.detach()).all().to(device) for _, t in tensors])
    bad = (~finite).sum().reshape(1).float()
    all_reduce_([bad])
    if bad.item() == 0:
        return None
    for (name, tensor), ok in zip(tensors, finite.tolist(), strict=True):
        if not ok:
            kind = "nan" if bool(torch.isnan(tensor.detach()).any()) else "inf"
            return f"{name!r} ({kind})"
    return "a tensor on another rank"


def loss_growth(first_loss: float, loss: float, factor: float | None) -> bool:
    """True when ``loss`` exceeds ``factor`` times ``first_loss`` (``None`` disables).

    Only a positive first loss gives the ratio a meaning; losses here are non-negative
    cross-entropies and box losses, so a first loss of 0 (nothing left to learn) never trips.
    """
    return factor is not None and first_loss > 0 and loss > factor * first_loss


def check_epoch(model: nn.Module, losses: list[float], factor: float | None, where: str) -> None:
    """Raise :class:`DivergedError` if the run diverged by the end of the last epoch.

    ``losses`` are the epoch mean losses so far (the first and the latest are compared);
    ``where`` names the run and epoch for the message (e.g. ``"'vgg' at epoch 3/10"``).
    """
    tensor = non_finite_tensor(model)
    if tensor is not None:
        raise DivergedError(
            f"{where}: parameter or buffer {tensor} is not finite although the loss is; "
            f"lower the lr or set grad_clip"
        )
    if loss_growth(losses[0], losses[-1], factor):
        raise DivergedError(
            f"{where}: epoch loss {losses[-1]:.6g} is more than {factor:g}x the first "
            f"epoch's {losses[0]:.6g}; lower the lr or set grad_clip"
        )
