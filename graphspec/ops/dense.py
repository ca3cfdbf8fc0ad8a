"""Classifier layers: ``flatten`` and ``linear`` (``fc_to_conv`` turns them into convs)."""

from __future__ import annotations

from math import prod
from typing import Literal

from pydantic import Field

from graphspec.ops.base import Op, PosInt, Shape, ShapeError, Width


class Flatten(Op):
    op: Literal["flatten"] = "flatten"

    def infer(self, inputs: list[Shape]) -> Shape:
        return (prod(inputs[0]),)


class Linear(Op):
    """Fully-connected layer. ``in`` is optional; when given it must match the input."""

    op: Literal["linear"] = "linear"
    out: Width
    in_: PosInt | None = Field(default=None, alias="in")
    bias: bool = True

    def infer(self, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        if len(shape) != 1:
            raise ShapeError(
                f"linear needs a flat input (expected a vector, got a "
                f"{'x'.join(map(str, shape))} feature map); add `op: flatten` before it"
            )
        if self.in_ is not None and self.in_ != shape[0]:
            raise ShapeError(
                f"linear input size does not match (expected in: {self.in_}, "
                f"got {shape[0]} features)"
            )
        return (int(self.out),)

    def param_count(self, inputs: list[Shape], out: Shape) -> int:
        return inputs[0][0] * out[0] + (out[0] if self.bias else 0)

    def flops(self, inputs: list[Shape], out: Shape) -> int:
        return 2 * inputs[0][0] * out[0]
