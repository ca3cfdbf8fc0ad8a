"""Errors a spec author sees.

Every problem with a spec is reported as a :class:`SpecError` that names the file, the
1-based line and column, and the key path inside the document, in the form a compiler
would print (``file:line:col: key.path: what is wrong (expected ..., got ...)``), so editors
and CI annotations can jump straight to it. One error may carry several problems: the
checker reports everything it found in a file, not just the first thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

KeyPath = tuple[str | int, ...]


def format_key_path(path: KeyPath) -> str:
    """Render ``("encoder", 0, "layers", 2, "kernel")`` as ``encoder[0].layers[2].kernel``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


@dataclass(frozen=True)
class SourceLocation:
    """Where something sits in a spec file (line and column are 1-based)."""

    file: str = "<spec>"
    line: int = 1
    column: int = 1
    key_path: KeyPath = ()


@dataclass(frozen=True)
class SpecIssue:
    """One problem found in a spec."""

    location: SourceLocation
    message: str

    def __str__(self) -> str:
        loc = self.location
        return (
            f"{loc.file}:{loc.line}:{loc.column}: {format_key_path(loc.key_path)}: {self.message}"
        )

    def to_dict(self) -> dict[str, object]:
        loc = self.location
        return {
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "key_path": format_key_path(loc.key_path),
            "message": self.message,
        }


@dataclass
class SpecError(Exception):
    """A spec is invalid. ``issues`` lists every problem found; the attributes
    ``file``, ``line``, ``column``, ``key_path`` and ``message`` describe the first."""

    issues: Sequence[SpecIssue] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.issues:
            raise ValueError("SpecError needs at least one issue")
        super().__init__(str(self))

    @classmethod
    def at(cls, location: SourceLocation, message: str) -> SpecError:
        return cls([SpecIssue(location, message)])

    @property
    def first(self) -> SpecIssue:
        return self.issues[0]

    @property
    def file(self) -> str:
        return self.first.location.file

    @property
    def line(self) -> int:
        return self.first.location.line

    @property
    def column(self) -> int:
        return self.first.location.column

    @property
    def key_path(self) -> str:
        return format_key_path(self.first.location.key_path)

    @property
    def message(self) -> str:
        return self.first.message

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)
