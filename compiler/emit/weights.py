"""Trained weights for an emitted network: a bench job's ``best.pt`` / ``last.pt``.

Exporting a trained model must export *those* weights or fail: a partial load would ship
a half-random network that still runs. So the file is read with
``torch.load(weights_only=True)`` (it can never run code) and loaded with
``load_state_dict(strict=True)``, after a key and shape comparison that names what does
not fit in one line.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from graphspec.atomic import atomic_write

__all__ = ["WeightsError", "load_weights", "read_state_dict", "save_state"]

_LISTED = 5
"""Keys named per kind of mismatch; the rest are counted."""


class WeightsError(ValueError):
    """A weights file that is missing, unreadable or does not fit the network (one line)."""


def save_state(path: Path, state: Mapping[str, torch.Tensor]) -> None:
    """``torch.save`` of a state_dict through a temp file, so no partial file is left:
    the one writer of the weight files :func:`read_state_dict` reads back."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()), binary=True)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a plain state_dict file (``torch.save(model.state_dict())``)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found (expected a state_dict .pt file): {path}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"cannot read weights {path} ({reason})") from None
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise WeightsError(
            f"weights {path} are not a state_dict (expected a dict of tensors, "
            f"as torch.save(model.state_dict()) writes)"
        )
    return loaded


def _listed(title: str, items: list[str]) -> str:
    more = f", ... ({len(items) - _LISTED} more)" if len(items) > _LISTED else ""
    return f"{title} ({len(items)}): " + ", ".join(items[:_LISTED]) + more


def _mismatch(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> str:
    """What keeps ``state`` from loading strictly into a module with ``own`` as its
    state_dict: missing and unexpected keys and wrong shapes; empty when it fits."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} expected {tuple(v.shape)}, got {tuple(state[k].shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    parts = [
        _listed(title, items)
        for title, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes", shapes),
        )
        if items
    ]
    return "; ".join(parts)


def load_weights(net: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``net`` strictly; ``source`` names the file in the error."""
    problem = _mismatch(net.state_dict(), state)
    if problem:
        raise WeightsError(f"weights {source} do not fit the network: {problem}")
    net.load_state_dict(state, strict=True)
