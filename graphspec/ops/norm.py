"""Batch normalisation (per-channel, on feature maps)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from graphspec.ops.base import MirrorRule, Op, Shape, _spatial


class BatchNorm(Op):
    keeps_size: ClassVar[bool] = True
    mirror: ClassVar[MirrorRule] = "follow"
    op: Literal["batchnorm"] = "batchnorm"
    eps: Annotated[float, Field(gt=0)] = 1e-5
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.1

    def infer(self, inputs: list[Shape]) -> Shape:
        _spatial(inputs[0], "batchnorm")
        return inputs[0]

    def param_count(self, inputs: list[Shape], out: Shape) -> int:
        return 2 * out[0]
