"""Ops that only appear in the graph IR, never in a spec's encoder list.

The graph builder adds an :class:`Input` node; compiler passes add unpools (which reuse
the indices of a named max-pool) and reshapes. They share the :class:`~graphspec.ops.Op`
interface, so shape inference and emission treat them like any other op.
"""

from __future__ import annotations

from math import prod
from typing import ClassVar, Literal

from graphspec.ops import Op, Pair, Shape, ShapeError, Size, _spatial


class Input(Op):
    kind: ClassVar[str] = "input"
    arity: ClassVar[int | None] = 0
    op: Literal["input"] = "input"
    channels: int
    height: int
    width: int

    def infer(self, inputs: list[Shape]) -> Shape:
        return (self.channels, self.height, self.width)


class MaxUnpool(Op):
    """Inverse of the max-pool node ``pool``: puts each value back where the pool took
    its maximum from. ``size`` is the pool's input size, so odd sizes come back exactly."""

    kind: ClassVar[str] = "max_unpool"
    op: Literal["max_unpool"] = "max_unpool"
    pool: str
    kernel: Size
    stride: Size
    padding: Pair = (0, 0)
    size: Size

    def infer(self, inputs: list[Shape]) -> Shape:
        c, _, _ = _spatial(inputs[0], "max_unpool")
        return (c, *self.size)

    def window(self) -> tuple[Pair, Pair]:
        from fractions import Fraction

        return self.kernel, (Fraction(1, self.stride[0]), Fraction(1, self.stride[1]))  # type: ignore[return-value]


class Reshape(Op):
    """View a flat vector as ``shape`` (YOLO's S x S x (B*5 + C) grid)."""

    kind: ClassVar[str] = "reshape"
    op: Literal["reshape"] = "reshape"
    shape: tuple[int, ...]

    def infer(self, inputs: list[Shape]) -> Shape:
        if prod(inputs[0]) != prod(self.shape):
            raise ShapeError(
                f"cannot reshape {prod(inputs[0])} values to "
                f"{'x'.join(map(str, self.shape))} (expected {prod(self.shape)})"
            )
        return tuple(self.shape)
