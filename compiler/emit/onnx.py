"""ONNX export of a compiled network (torch's dynamo exporter)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def export_onnx(model: nn.Module, example: torch.Tensor, path: str | Path) -> Path:
    """Write ``model`` as ONNX to ``path`` and return it. Needs the ``onnx`` extra
    (onnx + onnxscript); the exported graph has a fixed input size, like the spec."""
    path = Path(path)
    model = model.eval()
    program = torch.onnx.export(model, (example,), dynamo=True, verbose=False)
    program.save(str(path))
    return path
