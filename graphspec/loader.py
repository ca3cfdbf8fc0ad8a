"""``load_spec``: YAML text or file -> validated :class:`~graphspec.schema.Spec`.

Pydantic's validation errors are translated into :class:`SpecError` issues that point at
the offending key's line and column and read ``what is wrong (expected ..., got ...)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from graphspec.errors import KeyPath, SourceLocation, SpecError, SpecIssue
from graphspec.gc_pause import paused_gc
from graphspec.ops import spec_ops
from graphspec.ops.base import _did_you_mean
from graphspec.schema import Head, Spec
from graphspec.search_space import check_knobs
from graphspec.source import SourceMap, read_yaml


@paused_gc()  # many small objects that live on: see graphspec.gc_pause
def load_spec(source: str | os.PathLike[str], *, file: str | None = None) -> Spec:
    """Load and validate a spec from a path or from YAML text.

    A :class:`~pathlib.Path`, or a one-line string naming an existing file or ending in
    ``.yaml``/``.yml``, is read as a file; any other string is YAML text. Raises
    :class:`SpecError` for every kind of bad input."""
    text, name = _read(source, file)
    data, smap = read_yaml(text, name)
    return validate_spec(data, smap)


def _read(source: str | os.PathLike[str], file: str | None) -> tuple[str, str]:
    is_path = isinstance(source, os.PathLike) or (
        "\n" not in source and (source.endswith((".yaml", ".yml")) or os.path.isfile(source))
    )
    if not is_path:
        return str(source), file or "<string>"
    path = Path(source)
    name = file or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError.at(
            SourceLocation(name),
            "file not found (expected a readable spec file, got a missing path)",
        ) from None
    except IsADirectoryError:
        raise SpecError.at(SourceLocation(name), "is a directory (expected a spec file)") from None
    except ValueError:  # e.g. a NUL byte in the path
        raise SpecError.at(
            SourceLocation(repr(name)[1:-1]),
            "invalid path (expected a file name, got a path with a NUL byte)",
        ) from None
    except OSError as exc:
        raise SpecError.at(SourceLocation(name), f"cannot read file ({exc.strerror})") from None
    try:
        return raw.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        raise SpecError.at(
            SourceLocation(name),
            f"file is not UTF-8 text (expected UTF-8, "
            f"got byte 0x{raw[exc.start]:02x} at offset {exc.start})",
        ) from None


def validate_spec(data: Any, smap: SourceMap) -> Spec:
    """Validate parsed YAML ``data`` against the schema, keeping ``smap`` for later errors."""
    if not isinstance(data, dict):
        got = type(data).__name__ if data is not None else "null"
        raise SpecError.at(
            smap.locate(()),
            f"a spec must be a mapping (expected keys name, input, classes, encoder, got a {got})",
        )
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError([_issue(err, data, smap) for err in exc.errors()]) from None
    spec._source = smap
    if spec.search:
        issues = check_knobs(data, smap, spec)
        if issues:
            raise SpecError(issues)
    return spec


def _data_path(loc: tuple[Any, ...], data: Any) -> KeyPath:
    """Keep only the parts of pydantic's ``loc`` that index the document (pydantic adds
    union tags such as ``'conv'`` and validator names, which are not keys)."""
    path: list[str | int] = []
    node = data
    tag_skipped = False
    for part in loc:
        is_tag = isinstance(node, dict) and part in (node.get("op"), node.get("type"))
        if is_tag and not tag_skipped:
            tag_skipped = True  # the discriminated union's tag comes first; a key may follow
            continue
        tag_skipped = False
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict | list):
            continue  # a union tag or a key that is missing from the data
        else:
            break
    return tuple(path)


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "tuple_type": "a list",
    "model_attributes_type": "a mapping",
}


def _issue(err: dict[str, Any], data: Any, smap: SourceMap) -> SpecIssue:
    kind, ctx = err["type"], err.get("ctx") or {}
    path = _data_path(err["loc"], data)
    got = _show(err.get("input"))
    if kind == "unknown_key":
        key_path = (*path, ctx["key"])
        return SpecIssue(smap.locate(key_path, key=True), err["msg"])
    if kind == "missing":
        missing = err["loc"][-1]
        return SpecIssue(smap.locate(path), f"missing required key '{missing}'")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _union_issue(kind, ctx, path, data, smap)
    if kind in ("pair", "width", "name"):
        return SpecIssue(smap.locate(path), err["msg"])
    if kind in _TYPE_WORDS:
        message = f"wrong type (expected {_TYPE_WORDS[kind]}, got {got})"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        sign = {
            "greater_than": ">",
            "greater_than_equal": ">=",
            "less_than": "<",
            "less_than_equal": "<=",
        }[kind]
        bound = next(iter(ctx.values()))
        message = f"value out of range (expected a number {sign} {bound}, got {got})"
    elif kind == "literal_error":
        message = f"invalid value (expected {ctx.get('expected')}, got {got})"
    elif kind == "string_pattern_mismatch" and path == ("name",):
        message = f"invalid spec name (expected letters, digits, '_', '-' and '.', got {got})"
    elif kind == "string_pattern_mismatch":
        message = (
            "invalid name (expected letters, digits and underscores, not starting "
            f"with a digit, got {got})"
        )
    elif kind == "too_short":
        message = f"too few items (expected at least {ctx.get('min_length')}, got {got})"
    else:
        text = err["msg"].removeprefix("Value error, ")
        message = f"invalid value ({text}; got {got})"
    return SpecIssue(smap.locate(path), message)


def _union_tags(field: str) -> list[str]:
    """The tag values of a discriminated union: every ``op`` name, or every head ``type``."""
    if field == "op":
        return list(spec_ops())
    if field == "type":
        return [m.model_fields["type"].default for m in get_args(get_args(Head)[0])]
    return []


def _union_issue(
    kind: str, ctx: dict[str, Any], path: KeyPath, data: Any, smap: SourceMap
) -> SpecIssue:
    field = ctx.get("discriminator", "'op'").strip("'")
    expected = _union_tags(field)
    if kind == "union_tag_not_found":
        return SpecIssue(
            smap.locate(path),
            f"missing required key '{field}' (expected one of: {', '.join(expected)})",
        )
    tag = str(ctx.get("tag"))
    hint = _did_you_mean(tag, expected)
    word = "op" if field == "op" else f"{field}"
    return SpecIssue(smap.locate((*path, field)), f"unknown {word} '{tag}'{hint}")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
