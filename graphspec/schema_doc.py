"""A Markdown reference of every spec key, generated from the pydantic models.

The models are the one source of truth for what a spec may say, so the reference is
derived from them (types, defaults, ge/gt/le/lt bounds, patterns, literal choices, class
docstrings, ``Field(description=...)`` or the comment trailing a field's line) rather
than written by hand and left to drift; ``docs/spec.md`` is this text, checked for
staleness by a test. The output holds no dates, so it changes only when the models do.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import re
import sys
import tokenize
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from graphspec.ops import Op, Padding, Size, Width, spec_ops
from graphspec.schema import Spec

__all__ = ["KeyDoc", "key_docs", "markdown_reference"]

COMMON_OP_KEYS = ("op", "name", "from")
_ALIASES = (  # field types whose validator hides the shape of what YAML accepts
    (Size, "int or [h, w]", "each ≥ 1"),
    (Padding, "int or [h, w]", "each ≥ 0"),
    (Width, "int or `classes`", "≥ 1"),
)
_BOUNDS = (
    ("ge", "≥"),
    ("gt", ">"),
    ("le", "≤"),
    ("lt", "<"),
    ("min_length", "at least"),
    ("max_length", "at most"),
)


@dataclass(frozen=True)
class KeyDoc:
    """One row of a reference table: a YAML key and what it accepts."""

    key: str
    type: str
    default: str
    constraint: str
    description: str


def key_docs(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[KeyDoc]:
    """The rows of ``model``'s table, in field order, leaving out the keys in ``skip``."""
    notes = _field_comments(model)
    rows = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key in skip:
            continue
        tp = _annotation(field)
        description = field.description or notes.get(name, "")
        rows.append(
            KeyDoc(key, _type_text(tp), _default_text(field), _constraint_text(tp), description)
        )
    return rows


def _annotation(field: FieldInfo) -> Any:
    """The field's type with the constraints pydantic moved into ``metadata`` put back."""
    if field.metadata:
        return Annotated[(field.annotation, *field.metadata)]
    return field.annotation


def _alias_of(meta: tuple[Any, ...]) -> tuple[Any, str, str] | None:
    for alias in _ALIASES:
        if any(m is v for m in meta for v in alias[0].__metadata__):
            return alias
    return None


def _members(tp: Any) -> tuple[Any, ...]:
    """The non-None members of a union (or the type itself)."""
    if get_origin(tp) in (Union, types.UnionType):
        return tuple(a for a in get_args(tp) if a is not type(None))
    return (tp,)


def _type_text(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Annotated:
        alias = _alias_of(tp.__metadata__)
        return alias[1] if alias else _type_text(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_type_text(a) for a in _members(tp))
    if origin is Literal:
        return type(get_args(tp)[0]).__name__
    if origin is list:
        return "list of " + _type_text(get_args(tp)[0])
    if isinstance(tp, type) and issubclass(tp, Op):
        return "[layer](#ops)"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    return getattr(tp, "__name__", str(tp))


def _constraint_text(tp: Any) -> str:
    return ", ".join(_constraints(tp))


def _constraints(tp: Any) -> list[str]:
    origin = get_origin(tp)
    if origin is Annotated:
        alias = _alias_of(tp.__metadata__)
        if alias:
            return [alias[2]]
        found = _constraints(get_args(tp)[0])
        for meta in tp.__metadata__:
            if callable(getattr(meta, "choices", None)):  # a schema built from a registry
                found.append("one of " + ", ".join(f"`{v}`" for v in meta.choices()))
            found += _bounds(meta.metadata if isinstance(meta, FieldInfo) else [meta])
            if isinstance(meta, FieldInfo) and isinstance(meta.discriminator, str):
                found.append(f"chosen by `{meta.discriminator}`")
        return found
    if origin is Literal and len(get_args(tp)) == 1:
        return [f"must be `{get_args(tp)[0]}`"]
    if origin is Literal:
        return ["one of " + ", ".join(f"`{v}`" for v in get_args(tp))]
    if origin is list:
        inner = _constraints(get_args(tp)[0])
        return [f"items: {'; '.join(inner)}"] if inner else []
    if origin in (Union, types.UnionType) and len(_members(tp)) == 1:
        return _constraints(_members(tp)[0])
    return []


def _bounds(metadata: list[Any]) -> list[str]:
    found = []
    for meta in metadata:
        for attr, word in _BOUNDS:
            if getattr(meta, attr, None) is not None:
                found.append(f"{word} {getattr(meta, attr)}")
        if getattr(meta, "pattern", None) is not None:
            found.append(f"matches `{meta.pattern}`")
    return found


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True)
    return f"`{json.dumps(value)}`"


def _field_comments(model: type) -> dict[str, str]:
    """The comment trailing each field's line in the source of ``model`` or of a base
    class that declares the field (``stride`` of the pools), by field name."""
    notes: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if issubclass(cls, BaseModel) and cls is not BaseModel:
            notes.update(_own_comments(cls))
    return notes


def _own_comments(model: type) -> dict[str, str]:
    try:
        source = inspect.cleandoc("\n" + inspect.getsource(model))
    except (OSError, TypeError):  # a class built at run time has no source to read
        return {}
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    body = ast.parse(source).body[0]
    return {
        node.target.id: comments[node.end_lineno]
        for node in getattr(body, "body", [])
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.end_lineno in comments
    }


def attribute_doc(module: str, name: str) -> str:
    """The string literal that follows ``name = ...`` in ``module`` (its attribute docstring)."""
    tree = ast.parse(inspect.getsource(sys.modules[module]))
    for node, after in zip(tree.body, tree.body[1:], strict=False):
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        named = any(isinstance(t, ast.Name) and t.id == name for t in targets)
        if named and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            return _markdown(str(after.value.value))
    return ""


def _markdown(text: str) -> str:
    """Docstring reST to Markdown: ``x`` and :role:`~a.b.X` become `x` and `X`."""
    text = re.sub(r":\w+:`~?(?:[\w]+\.)*(\w+)`", r"`\1`", inspect.cleandoc(text))
    return text.replace("``", "`")


def _doc(model: type) -> str:
    doc = model.__dict__.get("__doc__")
    return _markdown(doc) if doc else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: list[KeyDoc]) -> list[str]:
    """A Markdown table of ``rows``."""
    lines = ["| key | type | default | constraint | description |", "|---|---|---|---|---|"]
    for r in rows:
        cells = (f"`{r.key}`", r.type, r.default, r.constraint, r.description)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _model_section(model: type[BaseModel], level: str) -> list[str]:
    lines = [f"{level} {model.__name__}", ""]
    if _doc(model):
        lines += [_doc(model), ""]
    return [*lines, *table(key_docs(model)), ""]


def _nested_models(tp: Any) -> list[type[BaseModel]]:
    """The spec models (not ops) a field's type holds, in order of appearance."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [] if issubclass(tp, Op) else [tp]
    found: list[type[BaseModel]] = []
    for arg in get_args(tp):
        found += [m for m in _nested_models(arg) if m not in found]
    return found


def _key_sections() -> list[str]:
    """One section per top-level key that holds a model, with every model reachable from it."""
    lines: list[str] = []
    for name, field in Spec.model_fields.items():
        models = _nested_models(_annotation(field))
        if not models:
            continue
        lines += [f"## `{field.alias or name}`", ""]
        seen = list(models)
        for model in seen:
            lines += _model_section(model, "###")
            for inner in model.model_fields.values():
                seen += [m for m in _nested_models(_annotation(inner)) if m not in seen]
    return lines


def _traits(op: type[Op]) -> str:
    arity = "two or more" if op.arity is None else str(op.arity)
    yes = {True: "yes", False: "no"}
    return (
        f"Traits: inputs {arity}; pointwise {yes[op.pointwise]}; "
        f"keeps size {yes[op.keeps_size]}; mirror `{op.mirror}`."
    )


def _op_sections() -> list[str]:
    lines = ["## Ops", "", _doc(Op), "", *table(key_docs(Op, skip=("op",))), ""]
    lines += ["**Mirror rules.** " + attribute_doc("graphspec.ops.base", "MirrorRule"), ""]
    for name, op in spec_ops().items():
        lines += [f"### `{name}`", ""]
        if _doc(op):
            lines += [_doc(op), ""]
        lines += [_traits(op), ""]
        rows = key_docs(op, skip=COMMON_OP_KEYS)
        lines += [*table(rows), ""] if rows else ["No keys besides `op`, `name` and `from`.", ""]
    return lines


def markdown_reference() -> str:
    """The whole reference: the top-level keys, each section's model, and every spec op."""
    lines = [
        "# Spec reference",
        "",
        "Every key a graphspec YAML spec may hold, generated from the schema's pydantic "
        "models. Do not edit: regenerate with `graphspec schema --markdown > docs/spec.md`.",
        "Unknown keys are refused; `required` keys have no default.",
        "",
        "## Top level",
        "",
        *table(key_docs(Spec)),
        "",
        *_key_sections(),
        *_op_sections(),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"
