"""Convolutions: ``conv`` and ``conv_transpose`` (PyTorch's exact size rules)."""

from __future__ import annotations

from fractions import Fraction
from math import prod
from typing import ClassVar, Literal

from graphspec.ops.base import (
    MirrorRule,
    Op,
    Padding,
    Pair,
    PosInt,
    Shape,
    ShapeError,
    Size,
    Width,
    _out_size,
    _spatial,
)


def _check_groups(groups: int, in_channels: int, out_channels: int) -> None:
    if in_channels % groups or out_channels % groups:
        raise ShapeError(
            f"groups={groups} must divide both input channels and out "
            f"(expected multiples of {groups}, got {in_channels} in, {out_channels} out)"
        )


class Conv(Op):
    mirror: ClassVar[MirrorRule] = "conv"
    op: Literal["conv"] = "conv"
    out: Width
    kernel: Size
    stride: Size = (1, 1)
    padding: Padding = (0, 0)
    dilation: Size = (1, 1)
    groups: PosInt = 1
    bias: bool = True

    def infer(self, inputs: list[Shape]) -> Shape:
        c, h, w = _spatial(inputs[0], "conv")
        out = int(self.out)
        _check_groups(self.groups, c, out)
        size = [
            _out_size(n, k, s, p, d, False)
            for n, k, s, p, d in zip(
                (h, w), self.kernel, self.stride, self.padding, self.dilation, strict=True
            )
        ]
        return (out, *size)

    def param_count(self, inputs: list[Shape], out: Shape) -> int:
        return out[0] * (inputs[0][0] // self.groups) * prod(self.kernel) + (
            out[0] if self.bias else 0
        )

    def flops(self, inputs: list[Shape], out: Shape) -> int:
        return 2 * out[0] * (inputs[0][0] // self.groups) * prod(self.kernel) * out[1] * out[2]

    def window(self) -> tuple[Pair, Pair]:
        k = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation, strict=True))
        return k, self.stride  # type: ignore[return-value]


class ConvTranspose(Op):
    """Transposed convolution; ``output_padding`` resolves the size ambiguity of stride > 1."""

    op: Literal["conv_transpose"] = "conv_transpose"
    out: Width
    kernel: Size
    stride: Size = (1, 1)
    padding: Padding = (0, 0)
    output_padding: Padding = (0, 0)
    dilation: Size = (1, 1)
    groups: PosInt = 1
    bias: bool = True

    def infer(self, inputs: list[Shape]) -> Shape:
        c, h, w = _spatial(inputs[0], "conv_transpose")
        out = int(self.out)
        _check_groups(self.groups, c, out)
        for op_, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if op_ >= max(s, d):
                raise ShapeError(
                    f"output_padding must be smaller than stride or dilation "
                    f"(expected < {max(s, d)}, got {op_})"
                )
        size = [
            (n - 1) * s - 2 * p + d * (k - 1) + op_ + 1
            for n, k, s, p, d, op_ in zip(
                (h, w),
                self.kernel,
                self.stride,
                self.padding,
                self.dilation,
                self.output_padding,
                strict=True,
            )
        ]
        return (out, *size)

    def param_count(self, inputs: list[Shape], out: Shape) -> int:
        return inputs[0][0] * (out[0] // self.groups) * prod(self.kernel) + (
            out[0] if self.bias else 0
        )

    def flops(self, inputs: list[Shape], out: Shape) -> int:
        # FlopCounterMode counts a transposed conv over its *input* positions.
        c, h, w = inputs[0]
        return 2 * c * (out[0] // self.groups) * prod(self.kernel) * h * w

    def window(self) -> tuple[Pair, Pair]:
        # Up-sampling: the cumulative stride shrinks by the stride.
        return self.kernel, (Fraction(1, self.stride[0]), Fraction(1, self.stride[1]))  # type: ignore[return-value]
