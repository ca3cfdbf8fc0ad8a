"""A bounded YAML composer: parser events -> plain Python values and source marks.

PyYAML's composers recurse once per nesting level and finish the tree before any limit
can be checked (5,000 unclosed ``[`` took seconds). This one reads the parser's events
with an explicit stack and checks each limit at the event that breaks it: depth, values
after alias expansion, tags (refused before anything is constructed). libyaml's parser
and the pure-Python one give the same events, hence the same values and errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    Event,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from graphspec.errors import KeyPath, SourceLocation, SpecError

CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{CORE}{t}" for t in ("str", "int", "float", "bool", "null")}
_EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
_TAG_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "null": "null"}
MAX_NODES = 200_000
MAX_DEPTH = 64
_TOO_LARGE = f"document too large (expected at most {MAX_NODES} values after expanding aliases"
_TOO_LARGE += ", got more)"
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_SCALAR_CACHE: dict[tuple[str, tuple[bool, bool]], str] = {}
"""Resolved implicit tags of plain scalars (specs repeat the same few words and numbers)."""


class DepthError(SpecError):
    """Nesting beyond ``MAX_DEPTH``: raised at once, without reading the rest."""


@dataclass
class _Frame:
    """One open sequence or mapping."""

    value: list[Any] | dict[str, Any]
    path: KeyPath
    depth: int
    key: str | None = None
    """Mappings: the key whose value comes next (``None``: a key comes next)."""


@dataclass
class Composed:
    """The document's value and the marks of every value and key, by key path."""

    data: Any = None
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)


def _mark(event: Event) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1


def _too_deep(file: str, event: Event, path: KeyPath) -> DepthError:
    too_deep = f"nesting too deep (expected at most {MAX_DEPTH} levels, got more)"
    return DepthError.at(SourceLocation(file, *_mark(event), path), too_deep)


def _tag(event: NodeEvent) -> str:
    """The resolved tag, as PyYAML's composer would resolve it."""
    tag = event.tag
    if tag is not None and tag != "!":
        return tag
    if isinstance(event, ScalarEvent):
        key = (event.value, event.implicit)
        found = _SCALAR_CACHE.get(key)
        if found is None:
            found = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
            if len(_SCALAR_CACHE) < 10_000:
                _SCALAR_CACHE[key] = found
        return found
    kind = yaml.SequenceNode if isinstance(event, SequenceStartEvent) else yaml.MappingNode
    return _RESOLVER.resolve(kind, None, event.implicit)


class Composer:
    """Reads the events of one document from ``loader`` (a SafeLoader or CSafeLoader)."""

    def __init__(self, loader: Any, file: str) -> None:
        self.loader = loader
        self.file = file
        self.out = Composed()
        self.count = 0
        self.anchors: dict[str, list[Event]] = {}
        self.open: dict[str, tuple[int, list[Event]]] = {}
        self.level = 0
        self._doc: Iterator[Event] = iter(())

    def error(self, event: Event, path: KeyPath, message: str) -> SpecError:
        return SpecError.at(SourceLocation(self.file, *_mark(event), path), message)

    def document(self) -> Iterator[Event]:
        """The node events of the single document (none for an empty stream)."""
        loader = self.loader
        loader.get_event()  # StreamStart
        if loader.check_event(StreamEndEvent):
            return
        loader.get_event()  # DocumentStart
        first = loader.peek_event()
        while not loader.check_event(yaml.DocumentEndEvent):
            yield loader.get_event()
        loader.get_event()
        if not loader.check_event(StreamEndEvent):
            event = loader.get_event()
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                first.start_mark,
                "but found another document",
                event.start_mark,
            )

    def expanded(self) -> Iterator[Event]:
        """Document events with aliases replaced by their anchor's events; anchored
        regions are recorded as they pass (aliases inside them as aliases)."""
        self._doc = self.document()
        for event in self._doc:
            for _, recording in self.open.values():
                recording.append(event)
            if isinstance(event, AliasEvent):
                yield from self._alias(event)
                continue
            if isinstance(event, NodeEvent) and event.anchor is not None:
                self._anchor(event)
            if isinstance(event, CollectionStartEvent):
                self.level += 1
            elif not isinstance(event, NodeEvent):  # a collection ends
                self.level -= 1
                for name in [n for n, (lv, _) in self.open.items() if lv > self.level]:
                    self.anchors[name] = self.open.pop(name)[1]
            yield event

    def _anchor(self, event: NodeEvent) -> None:
        name = event.anchor
        assert name is not None
        if name in self.anchors or name in self.open:
            first = (self.anchors.get(name) or self.open[name][1])[0]
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {name!r}; first occurrence",
                first.start_mark,
                "second occurrence",
                event.start_mark,
            )
        if isinstance(event, ScalarEvent):
            self.anchors[name] = [event]
            return
        self.open[name] = (self.level + 1, [event])

    def _alias(self, event: AliasEvent) -> Iterator[Event]:
        name = event.anchor
        if name in self.open:  # an alias of a node inside itself: infinitely deep
            raise _too_deep(self.file, event, ())
        if name not in self.anchors:
            raise yaml.composer.ComposerError(
                None, None, f"found undefined alias {name!r}", event.start_mark
            )
        yield from self._replay(self.anchors[name])

    def _replay(self, events: list[Event]) -> Iterator[Event]:
        """An anchor's events, nested aliases expanded (one explicit stack, no recursion)."""
        stack = [iter(events)]
        while stack:
            for event in stack[-1]:
                if isinstance(event, AliasEvent):
                    stack.append(iter(self.anchors[event.anchor]))  # type: ignore[index]
                    break
                yield event
            else:
                stack.pop()

    def compose(self) -> Composed:
        """Build the document's value; raise :class:`SpecError` at the first bad event."""
        stack: list[_Frame] = []
        for event in self.expanded():
            top = stack[-1] if stack else None
            if not isinstance(event, NodeEvent):  # the end of the top collection
                stack.pop()
                self._deliver(stack, top.value)  # type: ignore[union-attr]
                continue
            if top is not None and isinstance(top.value, dict) and top.key is None:
                top.key = self._key(event, top)
                continue
            path, depth = self._position(top)
            self._count(event, path, depth)
            tag = _tag(event)
            if isinstance(event, ScalarEvent):
                self._deliver(stack, self._scalar(event, tag, path))
                continue
            want = f"{CORE}seq" if isinstance(event, SequenceStartEvent) else f"{CORE}map"
            if tag != want:
                raise self._bad_tag(event, tag, path)
            value: list[Any] | dict[str, Any] = {} if want.endswith("map") else []
            stack.append(_Frame(value, path, depth))
        return self.out

    def _position(self, top: _Frame | None) -> tuple[KeyPath, int]:
        if top is None:
            return (), 0
        if isinstance(top.value, dict):
            return (*top.path, top.key), top.depth + 1  # type: ignore[arg-type]
        return (*top.path, len(top.value)), top.depth + 1

    def _deliver(self, stack: list[_Frame], value: Any) -> None:
        if not stack:
            self.out.data = value
            return
        top = stack[-1]
        if isinstance(top.value, dict):
            assert top.key is not None
            top.value[top.key] = value
            top.key = None
        else:
            top.value.append(value)

    def _count(self, event: Event, path: KeyPath, depth: int) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.error(event, path, _TOO_LARGE)
        if depth > MAX_DEPTH:
            raise _too_deep(self.file, event, path)
        self.out.values[path] = _mark(event)

    def _scalar(self, event: ScalarEvent, tag: str, path: KeyPath) -> Any:
        if tag not in _SCALAR_TAGS:
            raise self._bad_tag(event, tag, path)
        if tag == f"{CORE}str":
            if not event.style and _EXPONENT.match(event.value):
                return float(event.value)  # YAML 1.2 reads 1e-2 as a number; PyYAML (1.1) not
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
        try:
            return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
        except Exception:  # noqa: BLE001 - PyYAML raises KeyError/IndexError/ValueError here
            short = tag.replace(CORE, "!!")
            word = _TAG_WORDS.get(short[2:], short[2:])
            raise self.error(
                event, path, f"invalid value for {short} (expected {word}, got {event.value!r})"
            ) from None

    def _key(self, event: NodeEvent, top: _Frame) -> str:
        """Check a mapping key (never constructed: its tag may be hostile); return it."""
        path = top.path
        tag = _tag(event)
        if tag == f"{CORE}merge":
            raise self.error(
                event, path, "merge keys (<<) are not supported (expected plain keys, got '<<')"
            )
        if not isinstance(event, ScalarEvent) or tag != f"{CORE}str":
            if isinstance(event, ScalarEvent):
                shown = f"{tag.replace(CORE, '!!')} {event.value!r}"
            else:
                shown = "a sequence" if isinstance(event, SequenceStartEvent) else "a mapping"
            raise self.error(event, path, f"invalid key (expected a string key, got {shown})")
        key = event.value
        assert isinstance(top.value, dict)
        if key in top.value:
            raise self.error(
                event,
                (*path, key),
                f"duplicate key '{key}' (expected each key once per mapping, got it twice)",
            )
        self.out.keys[(*path, key)] = _mark(event)
        return key

    def _bad_tag(self, event: Event, tag: str, path: KeyPath) -> SpecError:
        short = tag.replace(CORE, "!!")
        return self.error(
            event,
            path,
            f"unsupported YAML tag '{short}' (expected plain values, "
            "lists and mappings; a spec never constructs objects)",
        )

    def drain(self) -> None:
        """Read the rest of the stream, so a syntax error (or nesting too deep) further on
        wins over a problem with a value, as when the whole document was composed first."""
        for event in self._doc:
            if isinstance(event, CollectionStartEvent):
                self.level += 1
                if self.level > MAX_DEPTH + 1:  # deeper than any value may be
                    raise _too_deep(self.file, event, ())
            elif not isinstance(event, NodeEvent):
                self.level -= 1
