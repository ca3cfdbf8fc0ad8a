"""The typed op vocabulary of the graph IR, with PyTorch's exact shape rules.

Each op is a frozen pydantic model. The spec's encoder layers are parsed straight into
these models (the ``op`` key picks the class), and compiler passes create more of them
(transposed convs, unpools, concatenations). Shape inference, parameter counts and FLOPs
are methods on the op, so every consumer dispatches on the op's type instead of on a
string. Shapes exclude the batch: ``(C, H, W)`` for feature maps, ``(F,)`` for vectors.

FLOPs are counted the way ``torch.utils.flop_counter.FlopCounterMode`` counts them:
2 x multiply-accumulates of convolutions and matrix products; bias additions, norms,
activations and pooling count zero.
"""

from __future__ import annotations

from fractions import Fraction
from math import prod
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from graphspec.op_base import (  # noqa: F401  (re-exported: the op vocabulary's types)
    IDENT,
    Op,
    Padding,
    Pair,
    PosInt,
    Shape,
    ShapeError,
    Size,
    Strict,
    Width,
    _did_you_mean,
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
    kind: ClassVar[str] = "conv"
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

    kind: ClassVar[str] = "conv_transpose"
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


class BatchNorm(Op):
    kind: ClassVar[str] = "batchnorm"
    op: Literal["batchnorm"] = "batchnorm"
    eps: Annotated[float, Field(gt=0)] = 1e-5
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.1

    def infer(self, inputs: list[Shape]) -> Shape:
        _spatial(inputs[0], "batchnorm")
        return inputs[0]

    def param_count(self, inputs: list[Shape], out: Shape) -> int:
        return 2 * out[0]


class ReLU(Op):
    kind: ClassVar[str] = "relu"
    op: Literal["relu"] = "relu"


class LeakyReLU(Op):
    kind: ClassVar[str] = "leaky_relu"
    op: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: Annotated[float, Field(ge=0)] = 0.01


class GELU(Op):
    kind: ClassVar[str] = "gelu"
    op: Literal["gelu"] = "gelu"


class SiLU(Op):
    kind: ClassVar[str] = "silu"
    op: Literal["silu"] = "silu"


class Sigmoid(Op):
    kind: ClassVar[str] = "sigmoid"
    op: Literal["sigmoid"] = "sigmoid"


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
        c, h, w = _spatial(inputs[0], self.kind)
        for k, p in zip(self.kernel, self.padding, strict=True):
            if 2 * p > k:  # PyTorch's rule, on the undilated kernel
                raise ShapeError(
                    f"{self.kind} padding must be at most half the kernel "
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
    kind: ClassVar[str] = "maxpool"
    op: Literal["maxpool"] = "maxpool"
    dilation: Size = (1, 1)

    @property
    def dilations(self) -> Pair:
        return self.dilation


class AvgPool(_Pool):
    kind: ClassVar[str] = "avgpool"
    op: Literal["avgpool"] = "avgpool"
    count_include_pad: bool = True


class AdaptiveAvgPool(Op):
    """Global or adaptive average pooling to a fixed ``size`` (1 = global)."""

    kind: ClassVar[str] = "adaptive_avgpool"
    op: Literal["adaptive_avgpool"] = "adaptive_avgpool"
    size: Size = (1, 1)

    def infer(self, inputs: list[Shape]) -> Shape:
        c, _, _ = _spatial(inputs[0], "adaptive_avgpool")
        return (c, *self.size)


class Dropout(Op):
    kind: ClassVar[str] = "dropout"
    op: Literal["dropout"] = "dropout"
    p: Annotated[float, Field(ge=0, lt=1)] = 0.5


class Flatten(Op):
    kind: ClassVar[str] = "flatten"
    op: Literal["flatten"] = "flatten"

    def infer(self, inputs: list[Shape]) -> Shape:
        return (prod(inputs[0]),)


class Linear(Op):
    """Fully-connected layer. ``in`` is optional; when given it must match the input."""

    kind: ClassVar[str] = "linear"
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


class Upsample(Op):
    kind: ClassVar[str] = "upsample"
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


class Add(Op):
    kind: ClassVar[str] = "add"
    arity: ClassVar[int | None] = None
    op: Literal["add"] = "add"

    def infer(self, inputs: list[Shape]) -> Shape:
        if any(s != inputs[0] for s in inputs):
            shown = ", ".join("x".join(map(str, s)) for s in inputs)
            raise ShapeError(f"add needs inputs of one shape (expected equal shapes, got {shown})")
        return inputs[0]


class Concat(Op):
    """Channel concatenation (U-Net skips)."""

    kind: ClassVar[str] = "concat"
    arity: ClassVar[int | None] = None
    op: Literal["concat"] = "concat"

    def infer(self, inputs: list[Shape]) -> Shape:
        maps = [_spatial(s, "concat") for s in inputs]
        if any(m[1:] != maps[0][1:] for m in maps):
            shown = ", ".join("x".join(map(str, m[1:])) for m in maps)
            raise ShapeError(f"concat needs equal spatial sizes (expected one H x W, got {shown})")
        return (sum(m[0] for m in maps), *maps[0][1:])


LAYER_OPS: tuple[type[Op], ...] = (
    Conv,
    ConvTranspose,
    BatchNorm,
    ReLU,
    LeakyReLU,
    GELU,
    SiLU,
    Sigmoid,
    MaxPool,
    AvgPool,
    AdaptiveAvgPool,
    Dropout,
    Flatten,
    Linear,
    Upsample,
    Add,
    Concat,
)
Layer = Annotated[
    Conv
    | ConvTranspose
    | BatchNorm
    | ReLU
    | LeakyReLU
    | GELU
    | SiLU
    | Sigmoid
    | MaxPool
    | AvgPool
    | AdaptiveAvgPool
    | Dropout
    | Flatten
    | Linear
    | Upsample
    | Add
    | Concat,
    Field(discriminator="op"),
]
