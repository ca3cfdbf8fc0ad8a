"""Transfer learning: initialise the encoder from a local checkpoint.

The checkpoint is a ``state_dict`` (or a dict holding one under ``state_dict`` / ``model``)
loaded with ``torch.load(weights_only=True)``, so it can never run code; a run's
``best.pt`` or ``last.pt`` (``torch.save(model.state_dict())``) is one. With ``match:
name`` (the default) keys are matched by name against the encoder's nodes; classifier
weights of layers the FC -> conv pass converted are reshaped to their conv form. With
``match: order`` a torchvision or timm backbone fills the encoder by position
(:mod:`compiler.transfer_order`), and the load prints which key went to which layer,
since nothing else would show it. The decoder and head start random.

A checkpoint that is missing, unreadable, of the wrong shapes or that matches none of the
encoder's tensors is a :class:`SpecError` at ``encoder_init.checkpoint``: asking for
pretrained weights and silently training from scratch would corrupt a comparison.
:func:`check_encoder_init` runs the same checks on a ``meta``-device model, so
``graphspec check`` validates a checkpoint without allocating the network.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import torch
from torch import nn

from compiler.emit import GraphNet, build_network
from compiler.passes.fc_to_conv import classifier_to_fcn_state_dict, fc_to_conv
from compiler.transfer_order import Pair, mapping_lines, match_by_order, skip_keys
from graphspec import Graph, SourceLocation, SpecError
from graphspec.schema import EncoderInit, Spec


@dataclass
class TransferReport:
    """What an ``encoder_init`` load did: the file, its digest and the keys by outcome.

    Shape mismatches never appear here: they are a :class:`SpecError` instead."""

    checkpoint: str  # the resolved path that was read
    sha256: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # encoder keys the checkpoint lacks
    unexpected: list[str] = field(default_factory=list)  # checkpoint keys nothing uses
    frozen: int = 0
    match: str = "name"  # encoder_init.match
    skipped: list[str] = field(default_factory=list)  # checkpoint keys encoder_init.skip left out
    mapping: list[Pair] = field(default_factory=list)  # match: order only, in graph order

    @property
    def tag(self) -> str:
        """``file-name:sha256[:12]``: names the weights a results row was initialised from."""
        return f"{Path(self.checkpoint).name}:{self.sha256[:12]}"

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} encoder tensors from {self.tag}"]
        if self.match == "order":
            layers = len({p.target.split(".")[0] for p in self.mapping})
            lines[0] += f" by order into {layers} layers:"
            lines += [f"  {line}" for line in mapping_lines(self.mapping)]
        if self.skipped:
            lines.append(f"skipped ({len(self.skipped)}): " + ", ".join(self.skipped[:10]))
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


def spec_folder(spec: Spec) -> Path:
    """The folder a relative ``encoder_init.checkpoint`` starts from: the spec file's own,
    or the working directory for a spec given as text."""
    file = spec.source.file
    return Path(file).parent if file and file[:1] != "<" else Path.cwd()


def _state_dict_from(obj: object) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise ValueError("expected a state_dict of tensors")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checkpoint(path: Path, loc: SourceLocation) -> tuple[dict[str, torch.Tensor], str]:
    """The checkpoint's tensors (memory-mapped when the file allows) and its sha256.

    Memory-mapping means checking or loading a large checkpoint only pages in the tensors
    that are actually read; files in torch's legacy format are read whole."""
    try:
        loaded = torch.load(
            path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
        )
        return _state_dict_from(loaded), _sha256(path)
    except FileNotFoundError:
        raise SpecError.at(loc, f"checkpoint not found (expected a file, got {path})") from None
    except Exception as exc:  # unpickling errors come in many types
        raise SpecError.at(
            loc,
            f"cannot read checkpoint {path} (expected a state_dict saved "
            f"with torch.save, got {type(exc).__name__}: {exc})",
        ) from None


def _encoder_keys(net: nn.Module, graph: Graph) -> dict[str, torch.Size]:
    """The shapes of the module's ``state_dict`` entries that belong to encoder nodes."""
    encoder = {node.name for node in graph if node.role == "encoder"}
    return {k: v.shape for k, v in net.state_dict().items() if k.split(".")[0] in encoder}


def _match(
    checkpoint: Mapping[str, torch.Tensor],
    own: Mapping[str, torch.Size],
    init: EncoderInit,
    report: TransferReport,
    loc: SourceLocation,
) -> None:
    """Sort every key into the report; raise on wrong shapes, no match, or strict misses."""
    mismatched = []
    for key, shape in own.items():
        if key not in checkpoint:
            report.missing.append(key)
        elif checkpoint[key].shape != shape:
            mismatched.append(f"{key}: expected {tuple(shape)}, got {tuple(checkpoint[key].shape)}")
        else:
            report.loaded.append(key)
    report.unexpected = sorted(set(checkpoint) - set(own))
    if mismatched:
        raise SpecError.at(
            loc, "checkpoint shapes do not match the encoder (" + "; ".join(mismatched[:5]) + ")"
        )
    if not report.loaded:
        expected = ", ".join(list(own)[:3]) or "nothing: the encoder has no weights"
        got = ", ".join(list(checkpoint)[:3]) or "no tensors"
        raise SpecError.at(
            loc,
            f"checkpoint {Path(report.checkpoint).name} matches none of the encoder's "
            f"{len(own)} tensors (expected keys such as {expected}; got {got})",
        )
    if init.strict and (report.missing or report.unexpected):
        raise SpecError.at(
            loc,
            f"checkpoint keys do not match the encoder (expected exactly "
            f"the encoder's keys, got {len(report.missing)} missing and "
            f"{len(report.unexpected)} unexpected)",
        )


def _read_and_match(
    net: nn.Module, graph: Graph, spec: Spec, base_dir: Path | None
) -> tuple[dict[str, torch.Tensor], TransferReport]:
    """Read ``spec.encoder_init.checkpoint`` and match it against ``net``'s encoder."""
    init = spec.encoder_init
    assert init is not None
    loc = spec.source.locate(("encoder_init", "checkpoint"))
    path = ((spec_folder(spec) if base_dir is None else base_dir) / init.checkpoint).resolve()
    checkpoint, sha256 = read_checkpoint(path, loc)
    checkpoint, skipped = skip_keys(checkpoint, spec)
    report = TransferReport(str(path), sha256, match=init.match, skipped=skipped)
    own = _encoder_keys(net, graph)
    if init.match == "order":
        found = match_by_order(checkpoint, own, init.strict, loc)
        checkpoint, report.mapping, report.missing = found.tensors, found.pairs, found.missing
        report.loaded = list(found.tensors)
    else:
        checkpoint = classifier_to_fcn_state_dict(checkpoint, graph)
        _match(checkpoint, own, init, report, loc)
    if init.freeze:
        report.frozen = len(_encoder_parameters(net, graph))
    return checkpoint, report


def _encoder_parameters(net: nn.Module, graph: Graph) -> list[tuple[str, nn.Parameter]]:
    encoder = {node.name for node in graph if node.role == "encoder"}
    return [(n, p) for n, p in net.named_parameters() if n.split(".")[0] in encoder]


def load_encoder_weights(
    model: GraphNet, spec: Spec, base_dir: Path | None = None, *, echo: TextIO | None = None
) -> TransferReport:
    """Copy matching encoder tensors from ``spec.encoder_init.checkpoint`` into ``model``
    (a path relative to ``base_dir``, by default the spec file's folder) and freeze the
    encoder when asked.

    With ``match: order`` the report, key -> layer table included, is printed to ``echo``
    (standard error by default, where ``bench`` writes its progress: its standard output
    may be one JSON object), by the main process of a distributed run only."""
    checkpoint, report = _read_and_match(model, model.graph, spec, base_dir)
    own = model.state_dict()
    with torch.no_grad():
        for key in report.loaded:
            own[key].copy_(checkpoint[key])
    if spec.encoder_init is not None and spec.encoder_init.freeze:
        for _, param in _encoder_parameters(model, model.graph):
            param.requires_grad_(False)
    if report.match == "order" and _main_process():
        print(report, file=echo or sys.stderr, flush=True)
    return report


def _main_process() -> bool:
    """False on the other ranks of a distributed job, so the table prints once."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def check_encoder_init(graph: Graph, spec: Spec, base_dir: Path | None = None) -> TransferReport:
    """Validate ``spec.encoder_init`` against the compiled ``graph`` without real weights.

    The network is built on the ``meta`` device (shapes, no storage) and the checkpoint is
    memory-mapped, so this costs little even for a VGG-sized model; it raises the same
    errors :func:`load_encoder_weights` would."""
    with torch.device("meta"):
        net = build_network(graph)
    return _read_and_match(net, graph, spec, base_dir)[1]


def classifier_as_fcn(graph: Graph, state_dict: Mapping[str, torch.Tensor]) -> GraphNet:
    """A trained classifier made fully convolutional, in eval mode, for heat-maps.

    ``graph`` is the classifier at its training size; its flatten + linear layers become
    convolutions whose kernels cover the training-size map, so on a larger input the
    classifier slides over the image and gives a ``[N, classes, h, w]`` map of scores."""
    fcn = fc_to_conv(graph)
    model = GraphNet(fcn)
    model.load_state_dict(classifier_to_fcn_state_dict(dict(state_dict), fcn))
    return model.eval()
