"""Transfer learning: initialise the encoder from a local checkpoint.

The checkpoint is a ``state_dict`` (or a dict holding one under ``state_dict`` / ``model``)
loaded with ``torch.load(weights_only=True)``, so it can never run code. Keys are matched
by name against the encoder's nodes; classifier weights of layers the FC -> conv pass
converted are reshaped to their conv form. The decoder and head start random.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from compiler.passes.fc_to_conv import classifier_to_fcn_state_dict
from graphspec import SpecError
from graphspec.schema import Spec


@dataclass
class TransferReport:
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # encoder keys the checkpoint lacks
    unexpected: list[str] = field(default_factory=list)  # checkpoint keys nothing uses
    frozen: int = 0

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} encoder tensors"]
        if self.missing:
            lines.append(
                f"missing from checkpoint ({len(self.missing)}): " + ", ".join(self.missing[:10])
            )
        if self.unexpected:
            lines.append(
                f"unused checkpoint keys ({len(self.unexpected)}): "
                + ", ".join(self.unexpected[:10])
            )
        if self.frozen:
            lines.append(f"froze {self.frozen} encoder parameters")
        return "\n".join(lines)


def _state_dict_from(obj: object) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise ValueError("expected a state_dict of tensors")


def load_encoder_weights(model: nn.Module, spec: Spec, base_dir: Path) -> TransferReport:
    """Copy matching encoder tensors from ``spec.encoder_init.checkpoint`` into ``model``."""
    init = spec.encoder_init
    assert init is not None
    loc = spec.source.locate(("encoder_init", "checkpoint"))
    path = (base_dir / init.checkpoint).resolve()
    try:
        checkpoint = _state_dict_from(torch.load(path, map_location="cpu", weights_only=True))
    except FileNotFoundError:
        raise SpecError.at(loc, f"checkpoint not found (expected a file, got {path})") from None
    except Exception as exc:  # unpickling errors come in many types
        raise SpecError.at(
            loc,
            f"cannot read checkpoint {path} (expected a state_dict saved "
            f"with torch.save, got {type(exc).__name__}: {exc})",
        ) from None
    graph = model.graph
    checkpoint = classifier_to_fcn_state_dict(checkpoint, graph)
    encoder = {node.name for node in graph if node.role == "encoder"}
    own = {k: v for k, v in model.state_dict().items() if k.split(".")[0] in encoder}
    report = TransferReport()
    mismatched = []
    for key, value in own.items():
        if key not in checkpoint:
            report.missing.append(key)
        elif checkpoint[key].shape != value.shape:
            mismatched.append(
                f"{key}: expected {tuple(value.shape)}, got {tuple(checkpoint[key].shape)}"
            )
        else:
            report.loaded.append(key)
    report.unexpected = sorted(set(checkpoint) - set(own))
    if mismatched:
        raise SpecError.at(
            loc, "checkpoint shapes do not match the encoder (" + "; ".join(mismatched[:5]) + ")"
        )
    if init.strict and (report.missing or report.unexpected):
        raise SpecError.at(
            loc,
            f"checkpoint keys do not match the encoder (expected exactly "
            f"the encoder's keys, got {len(report.missing)} missing and "
            f"{len(report.unexpected)} unexpected)",
        )
    with torch.no_grad():
        for key in report.loaded:
            own[key].copy_(checkpoint[key])
    if init.freeze:
        for name, param in model.named_parameters():
            if name.split(".")[0] in encoder:
                param.requires_grad_(False)
                report.frozen += 1
    return report
