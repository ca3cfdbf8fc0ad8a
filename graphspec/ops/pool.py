"""Pooling: ``maxpool``, ``avgpool`` and ``adaptive_avgpool``."""

from __future__ import annotations

from typing import ClassVar, Literal

from graphspec.ops.base import (
    MirrorRule,
    Op,
    Padding,
    Pair,
    Shape,
    ShapeError,
    Size,
    _out_size,
    _spatial,
)


class _Pool(Op):
    kernel: Size
    stride: Size | None = None  # defaults to the kernel, as in PyTorch
    padding: Padding = (0, 0)
    ceil_mode: bool = False

    @property
    def strides(self) -> Pair:
        return self.stride or self.kernel

    @property
    def dilations(self) -> Pair:
        return (1, 1)

    def infer(self, inputs: list[Shape]) -> Shape:
        c, h, w = _spatial(inputs[0], self.op)
        for k, p in zip(self.kernel, self.padding, strict=True):
            if 2 * p > k:  # PyTorch's rule, on the undilated kernel
                raise ShapeError(
                    f"{self.op} padding must be at most half the kernel "
                    f"(expected <= {k // 2}, got {p})"
                )
        size = [
            _out_size(n, k, s, p, d, self.ceil_mode)
            for n, k, s, p, d in zip(
                (h, w), self.kernel, self.strides, self.padding, self.dilations, strict=True
            )
        ]
        return (c, *size)

    def window(self) -> tuple[Pair, Pair]:
        k = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilations, strict=True))
        return k, self.strides  # type: ignore[return-value]


class MaxPool(_Pool):
    mirror: ClassVar[MirrorRule] = "max_pool"
    op: Literal["maxpool"] = "maxpool"
    dilation: Size = (1, 1)

    @property
    def dilations(self) -> Pair:
        return self.dilation


class AvgPool(_Pool):
    mirror: ClassVar[MirrorRule] = "avg_pool"
    op: Literal["avgpool"] = "avgpool"
    count_include_pad: bool = True


class AdaptiveAvgPool(Op):
    """Global or adaptive average pooling to a fixed ``size`` (1 = global)."""

    mirror: ClassVar[MirrorRule] = "resize"
    op: Literal["adaptive_avgpool"] = "adaptive_avgpool"
    size: Size = (1, 1)

    def infer(self, inputs: list[Shape]) -> Shape:
        c, _, _ = _spatial(inputs[0], "adaptive_avgpool")
        return (c, *self.size)
