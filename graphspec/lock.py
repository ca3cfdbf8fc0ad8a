"""Lock files: pin each spec's size so CI catches drift (``graphspec check --write-lock
/ --lock`` reads options and prints; the work is here, beside the graph IR it reads).

A lock file records, per valid spec, the numbers a reviewer cares about: parameters, exact
FLOPs (an int, so no rounding hides a change), the shape of every returned node and the
SSD default-box count. ``--lock`` recomputes them and reports each change at the spec's
``name`` key as ``lock: params changed (expected old, got new)``. Specs are keyed by their
path relative to the lock file's folder (posix), so the lock reads the same on every
machine and a check of a subset of the specs only compares that subset.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphspec.atomic import atomic_write_text
from graphspec.errors import SpecIssue
from graphspec.loader import load_spec

if TYPE_CHECKING:
    from graphspec.ir import Graph

LOCK_VERSION = 1


class LockFileError(ValueError):
    """The lock file cannot be read or does not have the lock structure (one line)."""


@dataclass(frozen=True)
class LockEntry:
    """What the lock pins for one spec."""

    params: int
    flops: int
    """FLOPs per image (2 x MACs), exact."""
    outputs: tuple[tuple[str, tuple[int, ...]], ...]
    """Each returned node with its shape (batch excluded), in return order."""
    default_boxes: int = 0
    """SSD default boxes; 0 for every other head."""

    def to_json(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "flops": self.flops,
            "outputs": [{"name": name, "shape": list(shape)} for name, shape in self.outputs],
            "default_boxes": self.default_boxes,
        }


def entry_of(graph: Graph) -> LockEntry:
    """The lock entry of a compiled graph."""
    boxes = graph.detection.default_boxes if graph.detection is not None else 0
    return LockEntry(
        params=sum(node.own_params for node in graph),
        flops=sum(node.flops for node in graph),
        outputs=tuple((name, tuple(graph[name].shape)) for name in graph.results),
        default_boxes=boxes,
    )


def lock_key(spec: Path, lock: Path) -> str:
    """``spec``'s path relative to the lock file's folder, posix style."""
    return Path(os.path.relpath(spec.resolve(), lock.resolve().parent)).as_posix()


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LockFileError(f"{where}: expected a non-negative integer, got {value!r}")
    return value


def _entry_from_json(key: str, raw: object) -> LockEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("outputs"), list):
        raise LockFileError(f"specs[{key!r}]: expected an object with params, flops, outputs")
    outputs = []
    for i, out in enumerate(raw["outputs"]):
        where = f"specs[{key!r}].outputs[{i}]"
        if not isinstance(out, dict) or not isinstance(out.get("shape"), list):
            raise LockFileError(f"{where}: expected an object with name and shape")
        name = out.get("name")
        if not isinstance(name, str):
            raise LockFileError(f"{where}.name: expected a string, got {name!r}")
        outputs.append((name, tuple(_int(d, f"{where}.shape") for d in out["shape"])))
    return LockEntry(
        params=_int(raw.get("params"), f"specs[{key!r}].params"),
        flops=_int(raw.get("flops"), f"specs[{key!r}].flops"),
        outputs=tuple(outputs),
        default_boxes=_int(raw.get("default_boxes", 0), f"specs[{key!r}].default_boxes"),
    )


def read_lock(path: Path) -> dict[str, LockEntry]:
    """The entries of a lock file; raises :class:`LockFileError` with a one-line reason."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LockFileError("file not found (create it with --write-lock)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockFileError(f"cannot read file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise LockFileError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("specs"), dict):
        raise LockFileError('expected an object with a "specs" object')
    if data.get("version") != LOCK_VERSION:
        raise LockFileError(f"expected version {LOCK_VERSION}, got {data.get('version')!r}")
    return {key: _entry_from_json(key, raw) for key, raw in data["specs"].items()}


def format_lock(entries: dict[str, LockEntry]) -> str:
    """The lock file's text: JSON with sorted keys and one field of one spec per line
    (an output list on its line), so each change reviews as a one-line diff."""
    blocks = []
    for key in sorted(entries):
        fields = sorted(entries[key].to_json().items())
        body = ",\n".join(
            f"      {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in fields
        )
        blocks.append(f"    {json.dumps(key)}: {{\n{body}\n    }}")
    specs = "{\n" + ",\n".join(blocks) + "\n  }" if blocks else "{}"
    return f'{{\n  "specs": {specs},\n  "version": {LOCK_VERSION}\n}}\n'


def write_lock(path: Path, entries: dict[str, LockEntry]) -> None:
    """Write ``entries`` atomically (:func:`~graphspec.atomic.atomic_write_text`), so a
    crash never leaves half a file; see :func:`format_lock` for the layout."""
    atomic_write_text(path, format_lock(entries))


def _show(value: object) -> str:
    if isinstance(value, tuple):  # outputs: (name, shape) pairs
        return ", ".join(f"{name} {list(shape)}" for name, shape in value)
    return f"{value:,}"


def drifts(old: LockEntry, new: LockEntry) -> list[str]:
    """One ``what changed (expected old, got new)`` message per field that differs."""
    return [
        f"{f.name} changed (expected {_show(getattr(old, f.name))}, "
        f"got {_show(getattr(new, f.name))})"
        for f in dataclasses.fields(LockEntry)
        if getattr(old, f.name) != getattr(new, f.name)
    ]


@dataclass
class LockRun:
    """One ``check`` run's use of a lock file: compare each spec against ``recorded``
    (``--lock``), or collect entries and merge them into it at the end (``--write-lock``)."""

    path: Path
    recorded: dict[str, LockEntry]
    write: bool
    seen: dict[str, LockEntry] = field(default_factory=dict)

    @classmethod
    def compare(cls, path: Path) -> LockRun:
        """A run that reports drift from the lock at ``path`` (``--lock``). The lock is
        read now, so a corrupt or missing one fails before any spec is compiled."""
        return cls(path, read_lock(path), write=False)

    @classmethod
    def record(cls, path: Path) -> LockRun:
        """A run that merges the checked specs into ``path`` (``--write-lock``): a new
        file if there is none, but an existing corrupt one fails before any compile."""
        return cls(path, read_lock(path) if path.exists() else {}, write=True)

    def observe(self, spec: Path, graph: Graph) -> list[SpecIssue]:
        """Record a valid spec's entry; with ``--lock``, the issues of its drift."""
        key, entry = lock_key(spec, self.path), entry_of(graph)
        self.seen[key] = entry
        if self.write:
            return []
        at = load_spec(spec).source.locate(("name",), key=True)
        at = dataclasses.replace(at, key_path=("lock",))
        old = self.recorded.get(key)
        if old is None:
            hint = f"run graphspec check --write-lock {self.path} to record it"
            return [SpecIssue(at, f"not in {self.path} (expected an entry {key!r}; {hint})")]
        return [SpecIssue(at, message) for message in drifts(old, entry)]

    def finish(self) -> None:
        """With ``--write-lock``: merge the checked specs into the lock and write it.

        Entries of specs not checked this time are kept while their file exists, so a
        subset can be re-locked; entries of deleted files are dropped."""
        if not self.write:
            return
        folder = self.path.resolve().parent
        kept = {k: e for k, e in self.recorded.items() if (folder / k).is_file()}
        write_lock(self.path, kept | self.seen)
