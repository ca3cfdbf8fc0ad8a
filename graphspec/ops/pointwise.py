"""Value-by-value ops: activations and dropout. They keep the shape, work on maps and
vectors alike, and a mirrored decoder repeats activations after each mirrored conv."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from graphspec.ops.base import MirrorRule, Op


class ReLU(Op):
    pointwise: ClassVar[bool] = True
    keeps_size: ClassVar[bool] = True
    mirror: ClassVar[MirrorRule] = "follow"
    op: Literal["relu"] = "relu"


class LeakyReLU(Op):
    pointwise: ClassVar[bool] = True
    keeps_size: ClassVar[bool] = True
    mirror: ClassVar[MirrorRule] = "follow"
    op: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: Annotated[float, Field(ge=0)] = 0.01


class GELU(Op):
    pointwise: ClassVar[bool] = True
    keeps_size: ClassVar[bool] = True
    mirror: ClassVar[MirrorRule] = "follow"
    op: Literal["gelu"] = "gelu"


class SiLU(Op):
    pointwise: ClassVar[bool] = True
    keeps_size: ClassVar[bool] = True
    mirror: ClassVar[MirrorRule] = "follow"
    op: Literal["silu"] = "silu"


class Sigmoid(Op):
    pointwise: ClassVar[bool] = True
    keeps_size: ClassVar[bool] = True
    mirror: ClassVar[MirrorRule] = "follow"
    op: Literal["sigmoid"] = "sigmoid"


class Dropout(Op):
    pointwise: ClassVar[bool] = True
    keeps_size: ClassVar[bool] = True
    op: Literal["dropout"] = "dropout"
    p: Annotated[float, Field(ge=0, lt=1)] = 0.5
