"""``specs/unet-small.yaml`` written by hand: a three-level U-Net with a bottleneck."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.tools.handwritten.blocks import double_conv, mirrored_names, stage_names


class UNetSmall(nn.Module):
    """Encoder 16-32-64 with 2x2 max-pools, a 128-channel bottleneck, and a decoder of
    2x2 stride-2 transposed convs (halving the channels) whose output is concatenated
    with the encoder stage of the same size (upsampled first), then two conv-bn-relus."""

    COMPILED_NAMES: dict[str, str] = {
        **stage_names("down1", "down1"),
        **stage_names("down2", "down2"),
        **stage_names("down3", "down3"),
        **stage_names("bottleneck", "bottleneck"),
        "up3": "dec_pool3",
        **mirrored_names("dec3", "down3"),
        "up2": "dec_pool2",
        **mirrored_names("dec2", "down2"),
        "up1": "dec_pool1",
        **mirrored_names("dec1", "down1"),
        "head": "head",
    }
    """Hand-written module path -> compiled node name (see ``load_compiled``)."""

    def __init__(self, in_channels: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.down1 = double_conv(in_channels, 16)
        self.down2 = double_conv(16, 32)
        self.down3 = double_conv(32, 64)
        self.bottleneck = double_conv(64, 128)
        self.up3 = nn.ConvTranspose2d(128, 64, 2, stride=2)
        self.dec3 = double_conv(128, 64)
        self.up2 = nn.ConvTranspose2d(64, 32, 2, stride=2)
        self.dec2 = double_conv(64, 32)
        self.up1 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec1 = double_conv(32, 16)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        skip1 = self.down1(x)
        skip2 = self.down2(F.max_pool2d(skip1, 2, 2))
        skip3 = self.down3(F.max_pool2d(skip2, 2, 2))
        x = self.bottleneck(F.max_pool2d(skip3, 2, 2))
        x = self.dec3(torch.cat([self.up3(x), skip3], dim=1))
        x = self.dec2(torch.cat([self.up2(x), skip2], dim=1))
        x = self.dec1(torch.cat([self.up1(x), skip1], dim=1))
        return self.head(x)
