"""Runtime ops the emitted networks call, beyond what ``torch.nn`` provides.

Generated model sources import only ``torch`` and this module, so everything here is
plain, traceable PyTorch (``torch.compile`` and ONNX export handle it). The RoI ops live
in :mod:`compiler.ops.roi`; their module wrappers are defined here, because generated
source names a class ``ops.X`` only when its ``__module__`` is this package.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compiler.detection.box_ops import batched_nms as batched_nms
from compiler.detection.box_ops import box_iou as box_iou
from compiler.detection.box_ops import nms as nms
from compiler.detection.rpn import rpn_anchors, rpn_proposals
from compiler.detection.window_proposals import window_proposals
from compiler.ops.roi import pair
from compiler.ops.roi import roi_align as roi_align
from compiler.ops.roi import roi_pool as roi_pool


def max_unpool2d(x: Tensor, indices: Tensor, output_size: tuple[int, int]) -> Tensor:
    """Max-unpooling that *sums* values routed to the same position.

    Each value of ``x`` goes back to the flat position ``indices`` recorded by the
    matching max-pool (``return_indices=True``). Where pooling windows overlap and
    several outputs picked the same input, their values add up, as in the seed lecture;
    ``torch.nn.MaxUnpool2d`` would keep only one of them.

    One in-place ``scatter_add_`` into a zeroed output, the only full-size tensor made
    (an out-of-place scatter would copy it once more). A channels_last input is
    scattered in its own layout, rows of channels per position, and comes back
    channels_last; flattening it as NCHW would copy ``x``, ``indices`` and the result.
    On the CPU the adds run in a fixed order, so the sums are bit-for-bit repeatable."""
    n, c = x.shape[:2]
    height, width = output_size
    if c > 1 and x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        rows = x.new_zeros((n, height * width, c))
        rows.scatter_add_(1, _channel_rows(indices), _channel_rows(x))
        return rows.view(n, height, width, c).permute(0, 3, 1, 2)
    flat = x.new_zeros((n, c, height * width))
    flat.scatter_add_(2, indices.flatten(2), x.flatten(2))
    return flat.view(n, c, height, width)


def _channel_rows(t: Tensor) -> Tensor:
    """``[N, C, H, W]`` channels_last as ``[N, H*W, C]``: a view, no copy (``reshape``
    copies only if ``t`` was not laid out channels_last after all)."""
    n, c = t.shape[:2]
    return t.permute(0, 2, 3, 1).reshape(n, -1, c)


class MaxPoolWithIndices(nn.MaxPool2d):
    """``nn.MaxPool2d`` that also returns the argmax indices a decoder unpool reuses."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__(
            kernel_size, stride, padding, dilation, return_indices=True, ceil_mode=ceil_mode
        )


class MaxUnpool(nn.Module):
    """Module form of :func:`max_unpool2d` with the exact output size fixed at build time,
    so odd input sizes (e.g. 97 x 131) come back exactly.

    ``disjoint_window`` is the pool's (kernel, stride, padding) when its windows never
    overlap (None otherwise). No two values then share a position, so placing them is
    summing them, and a channels_last input goes through ``F.max_unpool2d``'s own NHWC
    kernel: on the CPU our scatter in that layout takes 1.3-1.5x its time (in NCHW the
    scatter takes 0.7x, so NCHW keeps it). Not under ``torch.use_deterministic_algorithms``,
    where ``F.max_unpool2d`` refuses to run; nor for overlapping windows, where only the
    scatter sums."""

    def __init__(
        self,
        output_size: tuple[int, int],
        disjoint_window: tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None = None,
    ) -> None:
        super().__init__()
        self.output_size = tuple(output_size)
        self.disjoint_window = disjoint_window

    def forward(self, x: Tensor, indices: Tensor) -> Tensor:
        window = self.disjoint_window
        if (
            window is not None
            and x.dim() == 4
            and x.is_contiguous(memory_format=torch.channels_last)
            and not torch.are_deterministic_algorithms_enabled()
        ):
            kernel, stride, padding = window
            return F.max_unpool2d(x, indices, kernel, stride, padding, self.output_size)
        return max_unpool2d(x, indices, self.output_size)  # type: ignore[arg-type]

    def extra_repr(self) -> str:
        window = "" if self.disjoint_window is None else f", disjoint_window={self.disjoint_window}"
        return f"output_size={self.output_size}{window}"


class Concat(nn.Module):
    """Channel concatenation (U-Net skip)."""

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, dim=1)


class Add(nn.Module):
    """Element-wise sum of the inputs (residual or additive skip)."""

    def forward(self, *xs: Tensor) -> Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Resize(nn.Module):
    """Fixed-size interpolation (bilinear decoders and FCN score upsampling)."""

    def __init__(self, size: tuple[int, int], mode: str = "bilinear") -> None:
        super().__init__()
        self.size = tuple(size)
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        align = False if self.mode == "bilinear" else None
        return F.interpolate(x, size=self.size, mode=self.mode, align_corners=align)

    def extra_repr(self) -> str:
        return f"size={self.size}, mode={self.mode!r}"


class Reshape(nn.Module):
    """View each sample as ``shape`` (YOLO's S x S x (B*5 + C) grid)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class L2Norm(nn.Module):
    """SSD's L2 normalisation of each position's channel vector, times a learned scale
    per channel (initialised to ``scale``; Liu et al. use 20 on conv4_3)."""

    def __init__(self, channels: int, scale: float = 20.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=1, eps=1e-10) * self.weight.view(1, -1, 1, 1)


class AnchorRows(nn.Module):
    """``[N, boxes * values, H, W] -> [N, H * W * boxes, values]`` (cell-major rows)."""

    def __init__(self, values: int) -> None:
        super().__init__()
        self.values = values

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        return x.permute(0, 2, 3, 1).reshape(n, -1, self.values)

    def extra_repr(self) -> str:
        return f"values={self.values}"


class ConcatRows(nn.Module):
    """Concatenate per-map default-box rows into one ``[N, boxes, values]`` tensor."""

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, dim=1)


class RoIPool(nn.Module):
    """Module form of :func:`roi_pool` (``torchvision.ops.RoIPool``'s signature), so a
    Fast R-CNN head is one constructor call in generated source."""

    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float) -> None:
        super().__init__()
        self.output_size = pair(output_size)
        self.spatial_scale = float(spatial_scale)

    def forward(self, input: Tensor, rois: Tensor | list[Tensor]) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"


class RoIAlign(nn.Module):
    """Module form of :func:`roi_align` (``torchvision.ops.RoIAlign``'s signature)."""

    def __init__(
        self,
        output_size: int | tuple[int, int],
        spatial_scale: float,
        sampling_ratio: int,
        aligned: bool = False,
    ) -> None:
        super().__init__()
        self.output_size = pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = bool(aligned)

    def forward(self, input: Tensor, rois: Tensor | list[Tensor]) -> Tensor:
        return roi_align(
            input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}"
        )


class RPNProposals(nn.Module):
    """Faster R-CNN's proposal layer: RPN objectness ``[N, A, 2]`` and deltas ``[N, A, 4]``
    on the anchors of a ``feature_size`` map at ``stride`` -> per image ``[L, 4]`` boxes
    (``compiler.detection.rpn.rpn_proposals``; the train counts in training mode). The
    anchors are a non-persistent buffer: the state_dict holds weights only."""

    def __init__(
        self,
        sizes: tuple[float, ...],
        ratios: tuple[float, ...],
        stride: tuple[float, float],
        feature_size: tuple[int, int],
        image_size: tuple[int, int],
        pre_nms: int,
        post_nms: int,
        train_pre_nms: int,
        train_post_nms: int,
        nms: float = 0.7,
        min_size: float = 0.0,
    ) -> None:
        super().__init__()
        self.image_size = tuple(image_size)
        self.counts = {False: (pre_nms, post_nms), True: (train_pre_nms, train_post_nms)}
        self.nms, self.min_size = nms, min_size
        anchors = rpn_anchors(tuple(feature_size), tuple(stride), sizes, ratios)
        self.register_buffer("anchors", anchors, persistent=False)

    def forward(self, objectness: Tensor, deltas: Tensor) -> list[Tensor]:
        pre_nms, post_nms = self.counts[self.training]
        return rpn_proposals(
            objectness,
            deltas,
            self.anchors,
            self.image_size,
            pre_nms=pre_nms,
            post_nms=post_nms,
            nms_iou=self.nms,
            min_size=self.min_size,
        )


class WindowProposals(nn.Module):
    """The built-in proposal rule on each image: at most ``count`` ``[L, 4]`` boxes per
    image (``compiler.detection.window_proposals``)."""

    def __init__(self, count: int, nms: float = 0.7) -> None:
        super().__init__()
        self.count, self.nms = count, nms

    def forward(self, images: Tensor) -> list[Tensor]:
        return window_proposals(images, count=self.count, nms_iou=self.nms)

    def extra_repr(self) -> str:
        return f"count={self.count}, nms={self.nms}"


class GivenProposals(nn.Module):
    """The proposal step of a network whose proposals come from files: they are passed
    with the images (``net(images, proposals=[...])``), so running this step is an error
    that says so."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def forward(self, images: Tensor) -> list[Tensor]:
        raise ValueError(
            "this network reads precomputed proposals (at most "
            f"{self.count} an image): pass them, net(images, proposals=[boxes per image])"
        )

    def extra_repr(self) -> str:
        return f"count={self.count}"
