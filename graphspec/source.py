"""Safe YAML reading that remembers where every value came from.

PyYAML's ``SafeLoader`` is used only to *compose* the document into nodes, which carry
source marks; the nodes are then turned into plain Python values here. Only the YAML core
types (mappings, sequences, strings, numbers, booleans, null) are accepted, so tags such
as ``!!python/object`` are refused before anything could be constructed, and a spec can
never run code. Alias expansion is bounded so a "billion laughs" document cannot hang us.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from graphspec.errors import KeyPath, SourceLocation, SpecError

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null")}
_EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
_TAG_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "null": "null"}
MAX_NODES = 200_000
MAX_DEPTH = 64
MAX_BYTES = 512_000  # PyYAML's pure-Python parser takes ~15 us per byte


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


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Reader:
    def __init__(self, file: str) -> None:
        self.source = SourceMap(file)
        self.count = 0
        self._scalars = yaml.constructor.SafeConstructor()

    def error(self, node: yaml.Node, path: KeyPath, message: str) -> SpecError:
        line, col = _mark(node)
        return SpecError.at(SourceLocation(self.source.file, line, col, path), message)

    def value(self, node: yaml.Node, path: KeyPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.error(
                node,
                path,
                f"document too large (expected at most {MAX_NODES} "
                "values after expanding aliases, got more)",
            )
        if depth > MAX_DEPTH:
            raise self.error(
                node, path, f"nesting too deep (expected at most {MAX_DEPTH} levels, got more)"
            )
        self.source.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            if node.tag != f"{_CORE}map":
                raise self._bad_tag(node, path)
            return self.mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != f"{_CORE}seq":
                raise self._bad_tag(node, path)
            return [self.value(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if node.tag not in _SCALAR_TAGS:
            raise self._bad_tag(node, path)
        if node.tag == f"{_CORE}str" and node.style is None and _EXPONENT.match(node.value):
            return float(node.value)  # YAML 1.2 reads 1e-2 as a number; PyYAML (1.1) does not
        try:
            return self._scalars.construct_object(node)
        except Exception:  # noqa: BLE001 - PyYAML raises KeyError/IndexError/ValueError here
            tag = node.tag.replace(_CORE, "!!")
            word = _TAG_WORDS.get(tag[2:], tag[2:])
            raise self.error(
                node, path, f"invalid value for {tag} (expected {word}, got {node.value!r})"
            ) from None

    def mapping(self, node: yaml.MappingNode, path: KeyPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_CORE}merge":
                raise self.error(
                    key_node,
                    path,
                    "merge keys (<<) are not supported (expected plain keys, got '<<')",
                )
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != f"{_CORE}str":
                if isinstance(key_node, yaml.ScalarNode):  # never constructed: tags may be hostile
                    shown = f"{key_node.tag.replace(_CORE, '!!')} {key_node.value!r}"
                else:
                    shown = "a " + type(key_node).__name__.replace("Node", "").lower()
                raise self.error(
                    key_node, path, f"invalid key (expected a string key, got {shown})"
                )
            key = key_node.value
            if key in out:
                raise self.error(
                    key_node,
                    (*path, key),
                    f"duplicate key '{key}' (expected each key once per mapping, got it twice)",
                )
            self.source.keys[(*path, key)] = _mark(key_node)
            out[key] = self.value(value_node, (*path, key), depth + 1)
        return out

    def _bad_tag(self, node: yaml.Node, path: KeyPath) -> SpecError:
        tag = node.tag.replace(_CORE, "!!")
        return self.error(
            node,
            path,
            f"unsupported YAML tag '{tag}' (expected plain values, "
            "lists and mappings; a spec never constructs objects)",
        )


def read_yaml(text: str, file: str = "<spec>") -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain values and a :class:`SourceMap`."""
    if len(text) > MAX_BYTES:
        raise SpecError.at(
            SourceLocation(file),
            f"file too large (expected at most {MAX_BYTES} bytes, got {len(text)})",
        )
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SpecError.at(
            SourceLocation(file, line, column),
            f"invalid character (expected printable text, got control character #x{code:04x})",
        ) from None
    except yaml.YAMLError as exc:
        text_ = " ".join(str(exc).split())
        raise SpecError.at(SourceLocation(file), f"invalid YAML ({text_})") from None
    except RecursionError:
        raise SpecError.at(SourceLocation(file), "invalid YAML (nesting too deep)") from None
    if root is None:
        raise SpecError.at(
            SourceLocation(file),
            "empty spec (expected a mapping with keys "
            "name, input, classes, encoder, got an empty document)",
        )
    reader = _Reader(file)
    data = reader.value(root, (), 0)
    return data, reader.source


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
