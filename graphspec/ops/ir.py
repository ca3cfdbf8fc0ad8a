"""Ops that only appear in the graph IR, never in a spec's encoder list.

The graph builder adds an :class:`Input` node; compiler passes add unpools (which reuse
the indices of a named max-pool) and reshapes. They share the :class:`~graphspec.ops.Op`
interface, so shape inference and emission treat them like any other op.
"""

from __future__ import annotations

from math import prod
from typing import ClassVar, Literal

from graphspec.ops.base import Op, Pair, Shape, ShapeError, Size, _spatial


class Input(Op):
    arity: ClassVar[int | None] = 0
    in_spec: ClassVar[bool] = False
    op: Literal["input"] = "input"
    channels: int
    height: int
    width: int

    def infer(self, inputs: list[Shape]) -> Shape:
        return (self.channels, self.height, self.width)


class MaxUnpool(Op):
    """Inverse of the max-pool node ``pool``: puts each value back where the pool took
    its maximum from. ``size`` is the pool's input size, so odd sizes come back exactly;
    the window (kernel, stride, padding, dilation) is the pool's."""

    in_spec: ClassVar[bool] = False
    op: Literal["max_unpool"] = "max_unpool"
    pool: str
    kernel: Size
    stride: Size
    padding: Pair = (0, 0)
    dilation: Size = (1, 1)
    size: Size

    @property
    def disjoint(self) -> bool:
        """Whether the pool's windows never overlap (each stride at least the dilated
        kernel's extent): then no two values land on one position and summing them is the
        same as placing them."""
        return all(
            s >= (k - 1) * d + 1
            for k, s, d in zip(self.kernel, self.stride, self.dilation, strict=True)
        )

    def infer(self, inputs: list[Shape]) -> Shape:
        c, _, _ = _spatial(inputs[0], "max_unpool")
        return (c, *self.size)

    def window(self) -> tuple[Pair, Pair]:
        from fractions import Fraction

        return self.kernel, (Fraction(1, self.stride[0]), Fraction(1, self.stride[1]))  # type: ignore[return-value]


class Reshape(Op):
    """View a flat vector as ``shape`` (YOLO's S x S x (B*5 + C) grid)."""

    in_spec: ClassVar[bool] = False
    op: Literal["reshape"] = "reshape"
    shape: tuple[int, ...]

    def infer(self, inputs: list[Shape]) -> Shape:
        if prod(inputs[0]) != prod(self.shape):
            raise ShapeError(
                f"cannot reshape {prod(inputs[0])} values to "
                f"{'x'.join(map(str, self.shape))} (expected {prod(self.shape)})"
            )
        return tuple(self.shape)


class L2Norm(Op):
    """SSD's per-position L2 normalisation across channels with a learned channel scale."""

    in_spec: ClassVar[bool] = False
    keeps_size: ClassVar[bool] = True
    op: Literal["l2norm"] = "l2norm"
    scale: float = 20.0

    def param_count(self, inputs: list[Shape], out: Shape) -> int:
        return out[0]


class AnchorRows(Op):
    """A head conv's ``[boxes * values, H, W]`` map as ``[H * W * boxes, values]`` rows:
    one row per default box, ordered by cell (row-major) then box."""

    in_spec: ClassVar[bool] = False
    op: Literal["anchor_rows"] = "anchor_rows"
    values: int

    def infer(self, inputs: list[Shape]) -> Shape:
        c, h, w = _spatial(inputs[0], "anchor_rows")
        if c % self.values:
            raise ShapeError(f"anchor_rows needs channels divisible by {self.values}, got {c}")
        return (h * w * (c // self.values), self.values)


class ConcatRows(Op):
    """Concatenate the default-box rows of every source map."""

    arity: ClassVar[int | None] = None
    in_spec: ClassVar[bool] = False
    op: Literal["concat_rows"] = "concat_rows"

    def infer(self, inputs: list[Shape]) -> Shape:
        if any(len(s) != 2 or s[1] != inputs[0][1] for s in inputs):
            raise ShapeError("concat_rows needs [rows, values] inputs with equal values")
        return (sum(s[0] for s in inputs), inputs[0][1])
