"""The typed op vocabulary of the graph IR, with PyTorch's exact shape rules.

Each op is a frozen pydantic model, one family a module (timm ``layers/`` style). The
spec's encoder layers are parsed straight into these models (the ``op`` key picks the
class), and compiler passes create more of them (transposed convs, unpools, reshapes).
Shape inference, parameter counts and FLOPs are methods on the op, and what passes need
to know are class traits (see :class:`~graphspec.ops.base.Op`), so every consumer asks
the op instead of keeping lists of op types. Shapes exclude the batch: ``(C, H, W)`` for
feature maps, ``(F,)`` for vectors.

FLOPs are counted the way ``torch.utils.flop_counter.FlopCounterMode`` counts them:
2 x multiply-accumulates of convolutions and matrix products; bias additions, norms,
activations and pooling count zero.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from graphspec.ops.base import (
    MAX_INT,
    MirrorRule,
    Op,
    Padding,
    Pair,
    PosInt,
    Shape,
    ShapeError,
    Size,
    Strict,
    Width,
    forget_op,
    on_new_op,
    spec_ops,
)
from graphspec.ops.conv import Conv, ConvTranspose
from graphspec.ops.dense import Flatten, Linear
from graphspec.ops.ir import AnchorRows, ConcatRows, Input, L2Norm, MaxUnpool, Reshape
from graphspec.ops.merge import Add, Concat
from graphspec.ops.names import IDENT
from graphspec.ops.norm import BatchNorm
from graphspec.ops.pointwise import GELU, Dropout, LeakyReLU, ReLU, Sigmoid, SiLU
from graphspec.ops.pool import AdaptiveAvgPool, AvgPool, MaxPool
from graphspec.ops.resize import Upsample
from graphspec.ops.roi import GivenProposals, RoIAlign, RoIPool, RPNProposals, WindowProposals


class _SpecOpUnion:
    """Pydantic schema of one encoder layer: a union tagged by ``op`` over
    :func:`spec_ops`, built whenever the schema is (so a new op class joins it)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        choices = {name: handler.generate_schema(op) for name, op in spec_ops().items()}
        return core_schema.tagged_union_schema(choices, discriminator="op")


Layer = Annotated[Op, _SpecOpUnion]
"""An encoder layer of a spec: any registered spec op, chosen by its ``op`` key."""

__all__ = [
    "GELU",
    "GivenProposals",
    "IDENT",
    "MAX_INT",
    "AdaptiveAvgPool",
    "Add",
    "AnchorRows",
    "AvgPool",
    "BatchNorm",
    "Concat",
    "ConcatRows",
    "Conv",
    "ConvTranspose",
    "Dropout",
    "Flatten",
    "Input",
    "L2Norm",
    "Layer",
    "LeakyReLU",
    "Linear",
    "MaxPool",
    "MaxUnpool",
    "MirrorRule",
    "Op",
    "Padding",
    "Pair",
    "PosInt",
    "ReLU",
    "RPNProposals",
    "Reshape",
    "RoIAlign",
    "RoIPool",
    "Shape",
    "ShapeError",
    "SiLU",
    "Sigmoid",
    "Size",
    "Strict",
    "Upsample",
    "Width",
    "WindowProposals",
    "forget_op",
    "on_new_op",
    "spec_ops",
]
