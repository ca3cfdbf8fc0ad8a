"""One ``torch.nn`` constructor call per IR op.

``module_call`` dispatches on the op's type and returns a :class:`ModuleCall`: the class
and keyword arguments of the module that runs the node. The same description builds the
live module (:meth:`ModuleCall.build`) and is printed into generated source
(:meth:`ModuleCall.source`), so the two emitters cannot drift apart.

Two rules depend on where a node sits in the plan, not on its op alone, and are applied
to the call by :func:`compiler.emit.graphnet.step_call`: a max-pool records its argmax
only when an unpool reads it (:meth:`ModuleCall.with_indices`), and a ReLU overwrites its
input when nothing else reads that input (:meth:`ModuleCall.in_place`; the rule is
:mod:`compiler.emit.in_place`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any

from torch import nn

from compiler import ops as rt
from graphspec import ops
from graphspec.ops import Shape


@dataclass(frozen=True)
class ModuleCall:
    cls: type[nn.Module]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        return self.cls(**self.kwargs)

    def source(self) -> str:
        """The constructor call as Python, leaving out arguments equal to their defaults."""
        prefix = "ops" if self.cls.__module__ == rt.__name__ else "nn"
        params = inspect.signature(self.cls).parameters
        args = ", ".join(
            f"{k}={v!r}"
            for k, v in self.kwargs.items()
            if k not in params or not _same(params[k].default, v)
        )
        return f"{prefix}.{self.cls.__name__}({args})"

    def in_place(self) -> ModuleCall:
        """The same module overwriting its input (``inplace=True``): no new tensor, no
        second pass over memory, the hand-written ``nn.ReLU(inplace=True)``."""
        return ModuleCall(self.cls, {**self.kwargs, "inplace": True})

    def with_indices(self) -> ModuleCall:
        """A max-pool's call that also returns the argmax, for a pool an unpool reads."""
        return ModuleCall(rt.MaxPoolWithIndices, self.kwargs)


def _same(default: Any, value: Any) -> bool:
    if default is inspect.Parameter.empty:
        return False
    if isinstance(value, tuple) and not isinstance(default, tuple):
        return all(v == default for v in value)  # nn layers expand an int to a pair
    return default == value


@singledispatch
def module_call(op: ops.Op, inputs: list[Shape], out: Shape) -> ModuleCall:
    raise NotImplementedError(f"no module for op {op.op!r}")


@module_call.register
def _(op: ops.Conv, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(
        nn.Conv2d,
        dict(
            in_channels=inputs[0][0],
            out_channels=out[0],
            kernel_size=op.kernel,
            stride=op.stride,
            padding=op.padding,
            dilation=op.dilation,
            groups=op.groups,
            bias=op.bias,
        ),
    )


@module_call.register
def _(op: ops.ConvTranspose, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(
        nn.ConvTranspose2d,
        dict(
            in_channels=inputs[0][0],
            out_channels=out[0],
            kernel_size=op.kernel,
            stride=op.stride,
            padding=op.padding,
            output_padding=op.output_padding,
            groups=op.groups,
            bias=op.bias,
            dilation=op.dilation,
        ),
    )


@module_call.register
def _(op: ops.BatchNorm, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(nn.BatchNorm2d, dict(num_features=out[0], eps=op.eps, momentum=op.momentum))


@module_call.register
def _(op: ops.ReLU, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(nn.ReLU)


@module_call.register
def _(op: ops.LeakyReLU, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(nn.LeakyReLU, dict(negative_slope=op.negative_slope))


@module_call.register
def _(op: ops.GELU, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(nn.GELU)


@module_call.register
def _(op: ops.SiLU, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(nn.SiLU)


@module_call.register
def _(op: ops.Sigmoid, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(nn.Sigmoid)


@module_call.register
def _(op: ops.MaxPool, inputs: list[Shape], out: Shape) -> ModuleCall:
    # No indices: a pool that an unpool reads gets ``with_indices`` from its step, so the
    # others neither return nor keep an int64 tensor as large as their output.
    return ModuleCall(
        nn.MaxPool2d,
        dict(
            kernel_size=op.kernel,
            stride=op.strides,
            padding=op.padding,
            dilation=op.dilation,
            ceil_mode=op.ceil_mode,
        ),
    )


@module_call.register
def _(op: ops.AvgPool, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(
        nn.AvgPool2d,
        dict(
            kernel_size=op.kernel,
            stride=op.strides,
            padding=op.padding,
            ceil_mode=op.ceil_mode,
            count_include_pad=op.count_include_pad,
        ),
    )


@module_call.register
def _(op: ops.AdaptiveAvgPool, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(nn.AdaptiveAvgPool2d, dict(output_size=op.size))


@module_call.register
def _(op: ops.Dropout, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(nn.Dropout, dict(p=op.p))


@module_call.register
def _(op: ops.Flatten, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(nn.Flatten)


@module_call.register
def _(op: ops.Linear, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(nn.Linear, dict(in_features=inputs[0][0], out_features=out[0], bias=op.bias))


@module_call.register
def _(op: ops.Upsample, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(rt.Resize, dict(size=tuple(out[1:]), mode=op.mode))


@module_call.register
def _(op: ops.Add, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(rt.Add)


@module_call.register
def _(op: ops.Concat, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(rt.Concat)


@module_call.register
def _(op: ops.MaxUnpool, inputs: list[Shape], out: Shape) -> ModuleCall:
    window = (tuple(op.kernel), tuple(op.stride), tuple(op.padding)) if op.disjoint else None
    return ModuleCall(rt.MaxUnpool, dict(output_size=tuple(out[1:]), disjoint_window=window))


@module_call.register
def _(op: ops.Reshape, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(rt.Reshape, dict(shape=tuple(op.shape)))


@module_call.register
def _(op: ops.L2Norm, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(rt.L2Norm, dict(channels=out[0], scale=op.scale))


@module_call.register
def _(op: ops.AnchorRows, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(rt.AnchorRows, dict(values=op.values))


@module_call.register
def _(op: ops.ConcatRows, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(rt.ConcatRows)


@module_call.register
def _(op: ops.RPNProposals, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(
        rt.RPNProposals,
        dict(
            sizes=op.sizes,
            ratios=op.ratios,
            stride=op.stride,
            feature_size=op.feature,
            image_size=op.image,
            pre_nms=op.pre_nms,
            post_nms=op.post_nms,
            train_pre_nms=op.train_pre_nms,
            train_post_nms=op.train_post_nms,
            nms=op.nms,
            min_size=op.min_size,
        ),
    )


@module_call.register
def _(op: ops.WindowProposals, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(rt.WindowProposals, dict(count=op.count, nms=op.nms))


@module_call.register
def _(op: ops.RoIAlign, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(
        rt.RoIAlign,
        dict(
            output_size=op.output,
            spatial_scale=op.spatial_scale,
            sampling_ratio=op.sampling_ratio,
            aligned=op.aligned,
        ),
    )


@module_call.register
def _(op: ops.RoIPool, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(rt.RoIPool, dict(output_size=op.output, spatial_scale=op.spatial_scale))


@module_call.register
def _(op: ops.GivenProposals, inputs: list[Shape], out: Shape) -> ModuleCall:
    return ModuleCall(rt.GivenProposals, dict(count=op.count))
