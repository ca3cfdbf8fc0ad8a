"""``specs/segnet-small.yaml`` written by hand: SegNet with three pooling stages."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.tools.handwritten.blocks import double_conv, mirrored_names, stage_names


class SegNetSmall(nn.Module):
    """Encoder 16-32-64, each stage ending in a 2x2 max-pool that keeps its argmax; the
    decoder mirrors it, unpooling with those indices (``F.max_unpool2d``: the windows do
    not overlap, so overwriting and summing agree) before two conv-bn-relus that bring
    the channels back down, and a 1x1 classifier."""

    COMPILED_NAMES: dict[str, str] = {
        **stage_names("enc1", "block1"),
        **stage_names("enc2", "block2"),
        **stage_names("enc3", "block3"),
        **mirrored_names("dec3", "block3"),
        **mirrored_names("dec2", "block2"),
        **mirrored_names("dec1", "block1"),
        "head": "head",
    }
    """Hand-written module path -> compiled node name (see ``load_compiled``)."""

    def __init__(self, in_channels: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.enc1 = double_conv(in_channels, 16)
        self.enc2 = double_conv(16, 32)
        self.enc3 = double_conv(32, 64)
        self.dec3 = double_conv(64, 64, 32)
        self.dec2 = double_conv(32, 32, 16)
        self.dec1 = double_conv(16, 16)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.enc1(x)
        p1, i1 = F.max_pool2d(x1, 2, 2, return_indices=True)
        x2 = self.enc2(p1)
        p2, i2 = F.max_pool2d(x2, 2, 2, return_indices=True)
        x3 = self.enc3(p2)
        p3, i3 = F.max_pool2d(x3, 2, 2, return_indices=True)
        x = self.dec3(F.max_unpool2d(p3, i3, 2, 2, output_size=x3.shape[-2:]))
        x = self.dec2(F.max_unpool2d(x, i2, 2, 2, output_size=x2.shape[-2:]))
        x = self.dec1(F.max_unpool2d(x, i1, 2, 2, output_size=x1.shape[-2:]))
        return self.head(x)
