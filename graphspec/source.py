"""Safe YAML reading that remembers where every value came from.

PyYAML is used only to *parse* the text into events (libyaml's C parser when PyYAML has
it, else the pure-Python one); :mod:`graphspec.composer` turns the events into plain
values with a source mark per key path, checking every limit as it goes. Only the YAML
core types (mappings, sequences, strings, numbers, booleans, null) are accepted, so tags
such as ``!!python/object`` are refused before anything could be constructed, and a spec
can never run code. Nesting depth and alias expansion are bounded *while* parsing, so
neither 5,000 unclosed ``[`` nor a "billion laughs" document can hang us. Both parsers
give the same values and the same errors: a syntax error found by libyaml is re-read by
the pure-Python parser, whose wording is the one users see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from graphspec.composer import MAX_DEPTH, MAX_NODES, Composer, DepthError
from graphspec.errors import KeyPath, SourceLocation, SpecError
from graphspec.gc_pause import paused_gc

MAX_BYTES = 512_000  # PyYAML's pure-Python parser takes ~15 us per byte
Parser = Literal["c", "python"]
PARSERS: tuple[Parser, ...] = ("c", "python") if yaml.__with_libyaml__ else ("python",)
"""The parsers this PyYAML offers, fastest first (``c``: libyaml)."""
_LOADERS: dict[str, type] = {"python": yaml.SafeLoader}
if yaml.__with_libyaml__:
    _LOADERS["c"] = yaml.CSafeLoader

_FLOW_OPEN = re.compile(r"[\[{]")
__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "PARSERS", "SourceMap", "read_yaml"]


@dataclass
class SourceMap:
    """Maps key paths to 1-based (line, column) positions in one file."""

    file: str = "<spec>"
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: KeyPath, *, key: bool = False) -> SourceLocation:
        """Location of the value at ``path`` (or of its key with ``key=True``).

        Falls back to the closest enclosing path that has a position, so a problem with
        a missing key points at the mapping that lacks it."""
        table = self.keys if key else self.values
        if path in table:
            line, col = table[path]
            return SourceLocation(self.file, line, col, path)
        for cut in range(len(path) - 1, -1, -1):
            prefix = path[:cut]
            if prefix in self.values:
                line, col = self.values[prefix]
                return SourceLocation(self.file, line, col, path)
        return SourceLocation(self.file, 1, 1, path)


@paused_gc()  # events and values that live on: see graphspec.gc_pause
def read_yaml(
    text: str, file: str = "<spec>", *, parser: Parser | None = None
) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain values and a :class:`SourceMap`.

    ``parser`` picks the event source (default: the first of :data:`PARSERS`); every
    choice gives the same result and the same errors."""
    if len(text) > MAX_BYTES:
        raise SpecError.at(
            SourceLocation(file),
            f"file too large (expected at most {MAX_BYTES} bytes, got {len(text)})",
        )
    chosen = parser or PARSERS[0]
    prefix = _deep_prefix(text)
    if prefix is not None:
        try:
            _compose_with(prefix, file, chosen)
        except DepthError:
            raise
        except (SpecError, yaml.YAMLError):
            pass  # the cut was not clean: read the whole text
    composed = _compose_with(text, file, chosen)
    if composed is None:
        raise SpecError.at(
            SourceLocation(file),
            "empty spec (expected a mapping with keys "
            "name, input, classes, encoder, got an empty document)",
        )
    data, source = composed
    return data, source


def _compose_with(text: str, file: str, parser: str) -> tuple[Any, SourceMap] | None:
    """Compose with ``parser``; if libyaml finds a YAML error, the pure-Python parser
    re-reads the text, so the message (or the result) is the same for both parsers."""
    try:
        return _compose(text, file, parser)
    except yaml.YAMLError:
        if parser == "python":
            raise
        return _compose(text, file, "python")


def _deep_prefix(text: str) -> str | None:
    """The text up to the flow collection that nests deeper than ``MAX_DEPTH``, when one
    line opens more than ``MAX_DEPTH`` of them and no ``:`` follows (so the cut changes
    none of the parser's events before it); else ``None``.

    Both parsers look up to 1,024 characters ahead for a ``:`` after each ``[`` or ``{``,
    at a cost that grows with the nesting (and libyaml stops at 1,000 levels), so
    thousands of unclosed brackets on one line would take the pure-Python parser a
    fifth of a second before the composer's depth check could run; the prefix fails in
    well under a millisecond. Only a depth error of the prefix is taken as the answer."""
    limit = MAX_DEPTH + 2
    if text.count("[") + text.count("{") < limit:
        return None
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.count("[") + line.count("{") >= limit:
            opens = [m.start() for m in _FLOW_OPEN.finditer(line)]
            if ":" not in line[opens[0] :]:
                return text[: offset + opens[limit - 1] + 1]
        offset += len(line)
    return None


def _compose(text: str, file: str, parser: str) -> tuple[Any, SourceMap] | None:
    """Compose with one parser; YAML errors of the C parser propagate (to be re-read)."""
    try:
        if yaml.reader.Reader.NON_PRINTABLE.search(text):
            yaml.reader.Reader(text)  # raises the ReaderError with its position
        composer = Composer(_LOADERS[parser](text), file)
        try:
            out = composer.compose()
        except DepthError:
            raise
        except SpecError:
            composer.drain()  # a syntax error further on is reported first
            raise
    except yaml.MarkedYAMLError as exc:
        if parser != "python":
            raise
        raise _syntax_error(exc, file) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
    except yaml.YAMLError as exc:
        if parser != "python":
            raise
        text_ = " ".join(str(exc).split())
        raise SpecError.at(SourceLocation(file), f"invalid YAML ({text_})") from None
    if not out.values:
        return None
    return out.data, SourceMap(file, out.values, out.keys)


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> SpecError:
    before = text[: exc.position]
    line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return SpecError.at(
        SourceLocation(file, line, column),
        f"invalid character (expected printable text, got control character #x{code:04x})",
    )


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "invalid YAML"
    if "'\\t'" in problem or "\t" in problem:
        message = "tab character in indentation (expected spaces, got a tab)"
    elif "expected a single document" in str(exc):
        message = "more than one YAML document (expected a single document, got several)"
    else:
        context = f" {exc.context}" if exc.context else ""
        message = f"YAML syntax error:{context} {problem}".replace("  ", " ")
    return SpecError.at(SourceLocation(file, line, col, ()), message)
