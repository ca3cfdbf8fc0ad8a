"""Trained weights for an emitted network: a bench job's ``best.pt`` / ``last.pt``.

Exporting, scoring or predicting with a trained model must use *those* weights or fail: a
partial load would ship a half-random network that still runs, and NaN weights score as
if they were a model (all-NaN logits argmax to class 0, the background, which is most of
every shapes image). Every path that reads a weights file (``graphspec val``,
``predict``, ``compile --weights``, ``load_run``) goes through :func:`load_weights_file`:

1. the zip archive ``torch.save`` writes is checked from its central directory alone,
   before torch reads a byte of tensor data: every entry must be stored (torch never
   compresses, and a deflated entry may inflate to any size), and the records must not
   claim more than a state_dict of *this* network can hold (:class:`WeightsBound`);
2. the file is read with ``torch.load(mmap=True, weights_only=True)``: it can never run
   code, and the tensors stay pages of the file instead of copies in memory;
3. names, shapes and dtypes are compared with the network's before anything is copied,
   each kind of mismatch named in one line, then every floating-point tensor must be
   finite; only then ``load_state_dict(strict=True)`` copies them in.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch
from torch import nn

from graphspec.atomic import atomic_write

__all__ = [
    "WeightsBound",
    "WeightsError",
    "check_archive",
    "load_weights",
    "load_weights_file",
    "read_state_dict",
    "save_state",
]

_LISTED = 5
"""Keys named per kind of mismatch; the rest are counted."""

COPY_FACTOR = 2
"""Tensor bytes a file may hold per byte of the network's state: a float64 copy of a
float32 network is the largest state_dict that still loads into it."""
TENSOR_SLACK = 1 << 20
"""Tensor bytes allowed on top (1 MiB): a tiny network's file may keep a parameter as a view
of a slightly larger storage, and 1 MiB costs nothing to map."""
META_BYTES = 64 << 10
META_BYTES_PER_KEY = 1 << 10
"""The pickle and torch's small records (version, byteorder, ...): 64 KiB plus 1 KiB per
state_dict key, ten times what ``torch.save`` of a state_dict writes per key."""

StateDict = dict[str, torch.Tensor]


class WeightsError(ValueError):
    """A weights file that is missing, unreadable or does not fit the network (one line)."""


@dataclass(frozen=True)
class WeightsBound:
    """How many bytes a weights file for one network may unpack to, known before reading
    it: ``tensor_bytes`` for the storage records, ``other_bytes`` for everything else."""

    tensor_bytes: int
    other_bytes: int
    network_bytes: int  # the network's own state_dict, in bytes

    @classmethod
    def of(cls, net: nn.Module) -> WeightsBound:
        """The bound for ``net`` (works on a ``meta``-device network too)."""
        own = net.state_dict()
        expected = sum(t.numel() * t.element_size() for t in own.values())
        return cls(
            COPY_FACTOR * expected + TENSOR_SLACK,
            META_BYTES + META_BYTES_PER_KEY * len(own),
            expected,
        )


def save_state(path: Path, state: Mapping[str, torch.Tensor]) -> None:
    """``torch.save`` of a state_dict through a temp file, so no partial file is left:
    the one writer of the weight files :func:`read_state_dict` reads back."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()), binary=True)


def _unreadable(path: Path, reason: str) -> WeightsError:
    return WeightsError(f"cannot read weights {path} ({reason})")


def _entries(path: Path) -> list[zipfile.ZipInfo]:
    """The archive's entries from its central directory (no entry data is read)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.infolist()
    except Exception as exc:  # a damaged central directory fails in many ways
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise _unreadable(path, f"not a zip archive as torch.save writes: {reason}") from None


def _is_storage(name: str) -> bool:
    """``<archive>/data/<key>``: a tensor storage record of ``torch.save``."""
    return PurePosixPath(name).parent.name == "data"


def check_archive(path: Path, bound: WeightsBound) -> None:
    """Refuse, from the central directory alone, an archive whose entries are compressed,
    claim more bytes than the file holds, or unpack to more than ``bound`` allows."""
    entries, size = _entries(path), path.stat().st_size
    for entry in entries:
        if entry.compress_type != zipfile.ZIP_STORED:
            raise _unreadable(
                path,
                f"zip entry {entry.filename} is compressed (method {entry.compress_type}); "
                "torch.save stores entries uncompressed, and inflating one could take any "
                "amount of memory",
            )
        if entry.file_size != entry.compress_size or entry.header_offset + entry.file_size > size:
            claim = f"claims {entry.file_size} bytes of a {size}-byte file"
            raise _unreadable(path, f"zip entry {entry.filename} {claim}")
    tensors = sum(e.file_size for e in entries if _is_storage(e.filename))
    other = sum(e.file_size for e in entries if not _is_storage(e.filename))
    if tensors > bound.tensor_bytes:
        raise _unreadable(
            path,
            f"its tensor records hold {tensors} bytes, more than the {bound.tensor_bytes} a "
            f"state_dict of this network can ({COPY_FACTOR}x its {bound.network_bytes} bytes "
            f"+ {TENSOR_SLACK} bytes)",
        )
    if other > bound.other_bytes:
        raise _unreadable(
            path,
            f"its records other than tensors hold {other} bytes, more than the "
            f"{bound.other_bytes} a state_dict of this network needs",
        )


def read_state_dict(path: str | Path, net: nn.Module) -> StateDict:
    """The tensors of a plain state_dict file (``torch.save(model.state_dict())``) meant for
    ``net``, memory-mapped, after :func:`check_archive` (nothing is copied into ``net``)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found (expected a state_dict .pt file): {path}")
    check_archive(path, WeightsBound.of(net))
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # unpickling errors come in many types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _unreadable(path, reason) from None
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise WeightsError(
            f"weights {path} are not a state_dict (expected a dict of tensors, "
            f"as torch.save(model.state_dict()) writes)"
        )
    return loaded  # as saved: an OrderedDict keeps the modules' versions (``_metadata``)


def _listed(title: str, items: list[str]) -> str:
    more = f", ... ({len(items) - _LISTED} more)" if len(items) > _LISTED else ""
    return f"{title} ({len(items)}): " + ", ".join(items[:_LISTED]) + more


def _mismatch(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> str:
    """What keeps ``state`` from loading strictly into a module with ``own`` as its
    state_dict: missing and unexpected keys, wrong shapes, and integer (or other
    non-floating) tensors for floating-point ones; empty when it fits."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} expected {tuple(v.shape)}, got {tuple(state[k].shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    dtypes = [
        f"{k} expected floating point ({v.dtype}), got {state[k].dtype}"
        for k, v in own.items()
        if k in state and v.is_floating_point() and not state[k].is_floating_point()
    ]
    parts = [
        _listed(title, items)
        for title, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes", shapes),
            ("wrong dtypes", dtypes),
        )
        if items
    ]
    return "; ".join(parts)


def _not_finite(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Keys of the floating-point tensors holding a NaN or an infinity."""
    return [
        key
        for key, tensor in state.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]


def load_weights(net: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``net`` strictly; ``source`` names the file in the error. The
    checks (names, shapes, dtypes, finite values) all run before anything is copied."""
    problem = _mismatch(net.state_dict(), state)
    if problem:
        raise WeightsError(f"weights {source} do not fit the network: {problem}")
    bad = _not_finite(state)
    if bad:
        raise WeightsError(f"weights {source} hold NaN or inf: {_listed('tensors', bad)}")
    net.load_state_dict(state, strict=True)


def load_weights_file(
    net: nn.Module,
    path: str | Path,
    *,
    convert: Callable[[StateDict], StateDict] | None = None,
) -> StateDict:
    """Read ``path`` (:func:`read_state_dict`), ``convert`` it (e.g. a classifier's linear
    weights to the convs ``fc_to_conv`` made) and load it into ``net``
    (:func:`load_weights`); returns the state loaded, memory-mapped, for further networks
    of the same spec (test-time scales). The one way a weights file is read."""
    state = read_state_dict(path, net)
    if convert is not None:
        try:
            state = convert(state)
        except RuntimeError as exc:  # a reshape of a tensor of the wrong size
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise WeightsError(f"weights {path} do not fit the network: {reason}") from None
    load_weights(net, state, str(path))
    return state
