"""Ops that combine several inputs: ``add`` (residuals, additive skips) and ``concat``."""

from __future__ import annotations

from typing import ClassVar, Literal

from graphspec.ops.base import Op, Shape, ShapeError, _spatial


class Add(Op):
    arity: ClassVar[int | None] = None
    keeps_size: ClassVar[bool] = True
    op: Literal["add"] = "add"

    def infer(self, inputs: list[Shape]) -> Shape:
        if any(s != inputs[0] for s in inputs):
            shown = ", ".join("x".join(map(str, s)) for s in inputs)
            raise ShapeError(f"add needs inputs of one shape (expected equal shapes, got {shown})")
        return inputs[0]


class Concat(Op):
    """Channel concatenation (U-Net skips)."""

    arity: ClassVar[int | None] = None
    keeps_size: ClassVar[bool] = True
    op: Literal["concat"] = "concat"

    def infer(self, inputs: list[Shape]) -> Shape:
        maps = [_spatial(s, "concat") for s in inputs]
        if any(m[1:] != maps[0][1:] for m in maps):
            shown = ", ".join("x".join(map(str, m[1:])) for m in maps)
            raise ShapeError(f"concat needs equal spatial sizes (expected one H x W, got {shown})")
        return (sum(m[0] for m in maps), *maps[0][1:])
