"""Hand-written PyTorch twins of three reference specs, the baseline that
:mod:`benchmarks.tools.vs_handwritten` measures the compiled networks against.

Each module is what a person would write from the spec's layer list with nothing but
``torch.nn``: ``nn.Sequential`` conv-bn-relu blocks with in-place ReLUs, ``torch.cat``
skips, ``nn.MaxUnpool2d`` for SegNet. Their attribute names are their own, so each class
carries ``COMPILED_NAMES``, the mapping from its module paths to the compiled graph's node
names, and :func:`load_compiled` loads a compiled network's ``state_dict`` through it:
both networks then start from the same weights, buffers included.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from benchmarks.tools.handwritten.fcn_small import FCNSmall
from benchmarks.tools.handwritten.segnet_small import SegNetSmall
from benchmarks.tools.handwritten.unet_small import UNetSmall

__all__ = ["HANDWRITTEN", "FCNSmall", "SegNetSmall", "UNetSmall", "load_compiled"]

HANDWRITTEN: dict[str, type[nn.Module]] = {
    "unet-small": UNetSmall,
    "segnet-small": SegNetSmall,
    "fcn-small": FCNSmall,
}
"""Spec name -> the hand-written class of ``specs/<name>.yaml``."""


def load_compiled(module: nn.Module, compiled: Mapping[str, Tensor]) -> nn.Module:
    """Load a compiled network's ``state_dict`` into the hand-written ``module``.

    Every compiled key ``<node>.<param>`` is renamed to ``<path>.<param>`` by the class's
    ``COMPILED_NAMES`` (hand-written path -> node name); the load is strict, so a layer
    missing from the mapping, or one with another shape, is an error rather than a
    silently different initialisation."""
    to_path = {node: path for path, node in module.COMPILED_NAMES.items()}  # type: ignore[union-attr]
    renamed = {}
    for key, value in compiled.items():
        node, _, param = key.rpartition(".")
        if node not in to_path:
            raise KeyError(f"compiled layer {node!r} has no hand-written counterpart")
        renamed[f"{to_path[node]}.{param}"] = value
    module.load_state_dict(renamed, strict=True)
    return module
