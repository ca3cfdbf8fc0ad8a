"""``specs/fcn-small.yaml`` written by hand: an FCN-8s-style network."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.tools.handwritten.blocks import double_conv, stage_names


class FCNSmall(nn.Module):
    """Encoder 16-32-64 with 2x2 max-pools, a convolutional classifier (3x3 "fc6" and
    1x1 "fc7", with biases), class scores at 1/8, and the FCN-8s fusion: upsample
    bilinearly, add 1x1 scores of the pool2 and pool1 outputs, upsample to the input."""

    COMPILED_NAMES: dict[str, str] = {
        **stage_names("enc1", "block1"),
        **stage_names("enc2", "block2"),
        **stage_names("enc3", "block3"),
        "fc6": "fc6",
        "fc7": "fc7",
        "score": "head",
        "score_pool2": "head_score_pool2",
        "score_pool1": "head_score_pool1",
    }
    """Hand-written module path -> compiled node name (see ``load_compiled``)."""

    def __init__(self, in_channels: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.enc1 = double_conv(in_channels, 16)
        self.enc2 = double_conv(16, 32)
        self.enc3 = double_conv(32, 64)
        self.fc6 = nn.Conv2d(64, 128, 3, padding=1)
        self.fc7 = nn.Conv2d(128, 128, 1)
        self.score = nn.Conv2d(128, classes, 1)
        self.score_pool2 = nn.Conv2d(32, classes, 1)
        self.score_pool1 = nn.Conv2d(16, classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        pool1 = F.max_pool2d(self.enc1(x), 2, 2)
        pool2 = F.max_pool2d(self.enc2(pool1), 2, 2)
        x = F.max_pool2d(self.enc3(pool2), 2, 2)
        x = F.relu(self.fc6(x), inplace=True)
        x = F.relu(self.fc7(x), inplace=True)
        x = self.score(x)
        x = _up(x, pool2.shape[-2:]) + self.score_pool2(pool2)
        x = _up(x, pool1.shape[-2:]) + self.score_pool1(pool1)
        return _up(x, size)


def _up(x: Tensor, size: tuple[int, ...]) -> Tensor:
    """Bilinear resize, corners not aligned (the compiled ``upsample`` op's choice)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
