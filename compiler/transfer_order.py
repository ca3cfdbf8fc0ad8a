"""``encoder_init`` with ``match: order``: a foreign checkpoint's tensors paired by position.

torchvision and timm name their layers ``features.0`` or ``pre_logits.fc1``, never a
spec's ``conv1_1``, so matching by name finds nothing. Both save a network's tensors in the
order its layers run, which is also the order a graphspec encoder runs (and lists its
``state_dict``), so the n-th checkpoint tensor fills the n-th encoder tensor. A pair whose
shapes disagree, or a checkpoint tensor left over, means the two networks differ, and
loading anyway would shift every later tensor by one layer without a word; both are a
:class:`SpecError` naming the tensors. ``num_batches_tracked`` counters are left out on
both sides: checkpoints saved by older torch lack them, and they would shift the pairing.

``skip`` (both match modes) leaves checkpoint keys out before matching: the classifier
layers a segmentation or detection spec has no counterpart for.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from graphspec import SourceLocation, SpecError
from graphspec.schema import Spec

COUNTER = "num_batches_tracked"


@dataclass(frozen=True)
class Pair:
    """One checkpoint tensor and the encoder tensor it filled."""

    source: str  # the checkpoint's key
    target: str  # the encoder's state_dict key: ``layer.weight``
    reshaped: str = ""  # ``4096x25088 -> 4096x512x7x7`` when a linear filled a conv or back


@dataclass
class OrderMatch:
    """The tensors to copy (by encoder key, in the encoder's shapes) and how they paired."""

    tensors: dict[str, torch.Tensor]
    pairs: list[Pair]
    missing: list[str]  # encoder tensors after the checkpoint ran out: they stay random


def _under(key: str, prefix: str) -> bool:
    """``classifier.6`` covers ``classifier.6.weight`` but not ``classifier.60.weight``."""
    return key == prefix or key.startswith(prefix + ".")


def skip_keys(
    checkpoint: dict[str, torch.Tensor], spec: Spec
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The checkpoint without the keys ``encoder_init.skip`` names, and those keys.

    An entry that covers no key is a typo (the layer it meant would then be loaded or be
    left over), so it is an error at that entry, with the closest module names."""
    init = spec.encoder_init
    assert init is not None
    for i, prefix in enumerate(init.skip):
        if not any(_under(key, prefix) for key in checkpoint):
            modules = list(dict.fromkeys(key.rpartition(".")[0] for key in checkpoint))
            near = difflib.get_close_matches(prefix, modules, n=3) or modules[-3:]
            raise SpecError.at(
                spec.source.locate(("encoder_init", "skip", i)),
                f"skip entry '{prefix}' covers no checkpoint key (expected a key or a "
                f"prefix up to a dot, such as {', '.join(near) or 'none: no keys'})",
            )
    skipped = [key for key in checkpoint if any(_under(key, p) for p in init.skip)]
    left_out = set(skipped)
    return {k: v for k, v in checkpoint.items() if k not in left_out}, skipped


def _shape(shape: tuple[int, ...] | torch.Size) -> str:
    return "x".join(map(str, shape)) or "scalar"


def fit(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """``tensor`` in ``shape``, or None when it cannot fill a tensor of that shape.

    Equal shapes fit; so does a linear's ``[out, C*h*w]`` for a conv's ``[out, C, h, w]``
    and back (``flatten`` is channel-major, so a reshape lines the weights up): the fc6
    of an ImageNet VGG is a linear in torchvision and a 7x7 conv in timm and in FCN."""
    if tensor.shape == shape:
        return tensor
    ranks = {tensor.dim(), len(shape)}
    if ranks == {2, 4} and tensor.shape[0] == shape[0] and tensor.numel() == math.prod(shape):
        return tensor.reshape(shape)
    return None


def match_by_order(
    checkpoint: Mapping[str, torch.Tensor],
    own: Mapping[str, torch.Size],
    strict: bool,
    loc: SourceLocation,
) -> OrderMatch:
    """Pair ``checkpoint``'s tensors with the encoder's (``own``, in graph order).

    Raises at ``loc`` on the first pair whose shapes disagree, on checkpoint tensors left
    over, on a checkpoint with nothing to load, and (``strict``) on encoder tensors left
    without one."""
    sources = [key for key in checkpoint if key.rpartition(".")[2] != COUNTER]
    targets = [key for key in own if key.rpartition(".")[2] != COUNTER]
    if not sources:
        raise SpecError.at(loc, "checkpoint has no tensors to load (expected at least one)")
    found = OrderMatch({}, [], targets[len(sources) :])
    for i, (source, target) in enumerate(zip(sources, targets, strict=False)):
        tensor = checkpoint[source]
        fitted = fit(tensor, own[target])
        if fitted is None:
            raise SpecError.at(loc, _mismatch(i, sources, found.pairs, tensor, target, own))
        note = "" if fitted is tensor else f"{_shape(tensor.shape)} -> {_shape(own[target])}"
        found.pairs.append(Pair(source, target, note))
        found.tensors[target] = fitted
    left = sources[len(targets) :]
    if left:
        raise SpecError.at(loc, _leftover(left, len(targets), checkpoint))
    if strict and found.missing:
        raise SpecError.at(
            loc,
            f"match: order leaves {len(found.missing)} encoder tensors without a checkpoint "
            f"tensor (from {found.missing[0]} on; expected none with strict: true)",
        )
    return found


def _mismatch(
    i: int,
    sources: list[str],
    pairs: list[Pair],
    tensor: torch.Tensor,
    target: str,
    own: Mapping[str, torch.Size],
) -> str:
    """Which tensors disagree and what paired before them; when the disagreement starts a
    new top-level part of the checkpoint (its ``classifier``), the ``skip`` for it."""
    source = sources[i]
    group = source.split(".")[0]
    before = f"; before it {pairs[-1].source} -> {pairs[-1].target}" if pairs else ""
    if not any(p.source.split(".")[0] == group for p in pairs):
        before += f"; if the encoder has nothing for {group}, add skip: [{group}]"
    return (
        f"match: order pairs checkpoint tensor {i + 1} of {len(sources)}, {source} "
        f"{tuple(tensor.shape)}, with encoder tensor {target} {tuple(own[target])}: the "
        f"shapes disagree (expected equal shapes, or a linear's [out, C*h*w] for a conv's "
        f"[out, C, h, w]{before})"
    )


def _leftover(left: list[str], used: int, checkpoint: Mapping[str, torch.Tensor]) -> str:
    """The tensors nothing took, and the ``skip`` entry that would leave them out."""
    modules = list(dict.fromkeys(key.rpartition(".")[0] or key for key in left))
    named = ", ".join(f"{key} {tuple(checkpoint[key].shape)}" for key in left[:4])
    more = f" and {len(left) - 4} more" if len(left) > 4 else ""
    return (
        f"match: order fills all {used} encoder tensors and leaves {len(left)} checkpoint "
        f"tensors over ({named}{more}; expected every tensor used): add "
        f"skip: [{', '.join(modules[:5])}] if the spec has no layers for them"
    )


def mapping_lines(pairs: list[Pair]) -> list[str]:
    """One line per encoder layer: ``features.0 (weight, bias) -> conv1_1``.

    Keys are shortened to their module when they share one and keep their last part
    (``weight`` to ``weight``); otherwise each key is written out."""
    lines = []
    for layer, grouped in itertools.groupby(pairs, key=lambda p: p.target.split(".")[0]):
        group = list(grouped)
        modules = {p.source.rpartition(".")[0] for p in group}
        same = all(p.source.rpartition(".")[2] == p.target.rpartition(".")[2] for p in group)
        module = modules.pop() if len(modules) == 1 and same else ""
        parts = [
            (p.source.rpartition(".")[2] if module else p.source)
            + (f" {p.reshaped}" if p.reshaped else "")
            for p in group
        ]
        text = f"{module} ({', '.join(parts)})" if module else ", ".join(parts)
        lines.append(f"{text} -> {layer}")
    return lines
