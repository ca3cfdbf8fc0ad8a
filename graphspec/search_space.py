"""Where a spec's knobs point, and whether every value they may take gives a valid spec.

A knob path names a place in the spec document:

* ``stage.NAME.KEY``: key ``KEY`` of the encoder stage ``NAME`` (``stage.block2.repeat``);
* ``layer.NAME.KEY``: key ``KEY`` of the encoder layer named ``NAME`` (``layer.conv1.out``);
* anything else: keys from the top of the document (``scale.width``, ``decoder.skips``).

A section left out is created (``scale.width`` without a ``scale:``), and the key itself
may be absent (a default, such as ``decoder.skips``); what the schema does not know is
refused when the value is tried. Each choice, and each end of a range, is put into the document
alone and the whole spec validated again, so a path that leads nowhere or a value of the
wrong type is an error at the knob's line. Combinations are not checked up front: a
search prunes a combination whose shapes do not work, with its reason.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from graphspec.errors import KeyPath, SpecIssue
from graphspec.schema import Spec
from graphspec.search_schema import Choice, NumberRange
from graphspec.source import SourceMap

__all__ = ["KnobError", "check_knobs", "knob_target", "with_values"]


class KnobError(ValueError):
    """A knob path that leads nowhere in the spec (one line)."""


def knob_target(knob: str, data: Mapping[str, Any]) -> KeyPath:
    """The document path of ``knob`` in ``data``; KnobError if it leads nowhere."""
    kind, *rest = knob.split(".")
    if kind in ("stage", "layer"):
        if len(rest) < 2:
            raise KnobError(f"{kind} knobs are {kind}.NAME.KEY (got {knob})")
        path = _named(kind, rest[0], data) + tuple(rest[1:])
    else:
        path = (kind, *rest)
    parent: Any = data
    for part in path[:-1]:
        if isinstance(parent, list) and isinstance(part, int):
            parent = parent[part]
        elif isinstance(parent, dict):
            parent = parent.get(part, {})  # an optional section left out: it is created
        else:
            raise KnobError(f"'{knob}' leads nowhere: '{part}' is not inside a mapping")
    if not isinstance(parent, dict):
        raise KnobError(f"'{knob}' leads nowhere: its parent is not a mapping")
    return path


def _named(kind: str, name: str, data: Mapping[str, Any]) -> KeyPath:
    """``("encoder", i)`` of the stage, ``("encoder", i, "layers", j)`` of the layer."""
    for i, stage in enumerate(data.get("encoder") or []):
        if not isinstance(stage, dict):
            continue
        if kind == "stage" and stage.get("stage") == name:
            return ("encoder", i)
        for j, layer in enumerate(stage.get("layers") or []):
            if kind == "layer" and isinstance(layer, dict) and layer.get("name") == name:
                return ("encoder", i, "layers", j)
    raise KnobError(f"there is no encoder {kind} named '{name}'")


def with_values(data: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the spec document with each knob (path -> value) set."""
    out = copy.deepcopy(dict(data))
    for knob, value in values.items():
        *parents, last = knob_target(knob, out)
        node: Any = out
        for part in parents:
            node = node[part] if isinstance(node, list) else node.setdefault(part, {})
        node[last] = value
    return out


def _values(spec_values: list[Choice] | NumberRange) -> list[tuple[KeyPath, Any]]:
    """Each value to try with the key path (under the knob) that wrote it."""
    if isinstance(spec_values, NumberRange):
        return [(("low",), spec_values.low), (("high",), spec_values.high)]
    return [((index,), value) for index, value in enumerate(spec_values)]


def check_knobs(data: Mapping[str, Any], smap: SourceMap, spec: Spec) -> list[SpecIssue]:
    """Every problem with the spec's ``search:`` section, each at its line."""
    issues: list[SpecIssue] = []
    for knob, spec_values in (spec.search or {}).items():
        try:
            knob_target(knob, data)
        except KnobError as exc:
            issues.append(SpecIssue(smap.locate(("search", knob), key=True), str(exc)))
            continue
        for where, value in _values(spec_values):
            problem = _refusal(data, knob, value)
            if problem is not None:
                loc = smap.locate(("search", knob, *where))
                issues.append(
                    SpecIssue(loc, f"{knob} = {value!r} gives an invalid spec ({problem})")
                )
    return issues


def _refusal(data: Mapping[str, Any], knob: str, value: Any) -> str | None:
    """Why the spec with ``knob`` set to ``value`` is refused by the schema, or None."""
    changed = with_values(data, {knob: value})
    changed.pop("search", None)
    try:
        Spec.model_validate(changed)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}"
    return None
