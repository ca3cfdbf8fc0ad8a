"""The building block the three hand-written networks share: conv-bn-relu twice."""

from __future__ import annotations

from torch import nn


def double_conv(c_in: int, c_mid: int, c_out: int | None = None) -> nn.Sequential:
    """3x3 conv (no bias) - BN - ReLU, twice, as the specs' stages write them out; the
    ReLUs work in place, the usual hand-written idiom (torchvision's VGG and U-Nets)."""
    c_out = c_mid if c_out is None else c_out
    return nn.Sequential(
        nn.Conv2d(c_in, c_mid, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_mid, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def double_conv_names(path: str, conv1: str, bn1: str, conv2: str, bn2: str) -> dict[str, str]:
    """``COMPILED_NAMES`` entries of one :func:`double_conv` at ``path``: its two convs
    and two BNs (the ReLUs hold no state)."""
    return {f"{path}.0": conv1, f"{path}.1": bn1, f"{path}.3": conv2, f"{path}.4": bn2}


def stage_names(path: str, stage: str) -> dict[str, str]:
    """An encoder stage the spec writes as six layers ``<stage>_0`` .. ``<stage>_5``."""
    return double_conv_names(path, f"{stage}_0", f"{stage}_1", f"{stage}_3", f"{stage}_4")


def mirrored_names(path: str, stage: str) -> dict[str, str]:
    """A decoder stage the mirror pass names after the encoder convs it mirrors, last
    conv first: ``dec_<stage>_3`` (+ ``_batchnorm``), then ``dec_<stage>_0``."""
    first, second = f"dec_{stage}_3", f"dec_{stage}_0"
    return double_conv_names(path, first, f"{first}_batchnorm", second, f"{second}_batchnorm")
