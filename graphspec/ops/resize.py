"""``upsample``: interpolation by a scale factor or to an exact size."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from graphspec.ops.base import Op, Pair, Shape, Size, _spatial


class Upsample(Op):
    op: Literal["upsample"] = "upsample"
    scale: Size = (2, 2)
    size: Size | None = None  # exact output size; set by the compiler for odd inputs
    mode: Literal["nearest", "bilinear"] = "bilinear"

    def infer(self, inputs: list[Shape]) -> Shape:
        c, h, w = _spatial(inputs[0], "upsample")
        if self.size is not None:
            return (c, *self.size)
        return (c, h * self.scale[0], w * self.scale[1])

    def window(self) -> tuple[Pair, Pair]:
        return (1, 1), (Fraction(1, self.scale[0]), Fraction(1, self.scale[1]))  # type: ignore[return-value]
