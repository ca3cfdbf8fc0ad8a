"""What a job's predictions look like: a strip of fixed validation images and per-class scores.

The strip has one row per image (the first :data:`STRIP_IMAGES` of the validation split, so
every job of a sweep shows the same pictures) and three columns: the image, the ground truth
and the prediction, drawn by the task. Small inputs are enlarged by a whole factor,
nearest-neighbour, to tiles of at least :data:`STRIP_MIN_TILE` pixels a side (a 64x64
shapes image is a few specks at its own size, and a box label covers half of it), and the
classes are named once, in a band under the strip, rather than over every tile
(:func:`benchmarks.figures.overlay.drawing`). The per-class numbers are those of the test
split, so their mean is the row's metric: IoU per class for segmentation (the mean over
defined classes is ``miou``), COCO AP per class for detection (the mean over classes with
ground truth is ``map``). Both are computed on the main rank alone, over the whole split,
with the best weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmarks.data import collate
from benchmarks.data.normalize import Normalization
from benchmarks.figures.overlay import drawing, enlarged, legend_band
from benchmarks.figures.shown import DEFAULT_CONF, DEFAULT_MAX_DET
from benchmarks.metrics.per_class import ClassScore
from benchmarks.runtime.placement import move_batch
from benchmarks.tasks.base import PerClassEvaluator, Task

__all__ = [
    "STRIP_COLUMNS",
    "STRIP_GAP",
    "STRIP_IMAGES",
    "STRIP_MIN_TILE",
    "per_class_scores",
    "prediction_strip",
    "strip_scale",
]

STRIP_IMAGES = 4  # validation images shown, always the first ones of the split
STRIP_COLUMNS = 3  # input, ground truth, prediction
STRIP_MIN_TILE = 128
"""The shortest side of a tile: smaller inputs are enlarged to at least this."""
STRIP_GAP = 2
"""White pixels between tiles, and above the legend band, so the columns read apart."""

Tiles = tuple[Image.Image, Image.Image, Image.Image]


def strip_scale(height: int, width: int) -> int:
    """The whole factor that makes an ``height x width`` input's tiles at least
    :data:`STRIP_MIN_TILE` pixels a side (1 for inputs that already are)."""
    return max(1, math.ceil(STRIP_MIN_TILE / min(height, width)))


def _picture(image: torch.Tensor, normalization: Normalization) -> Image.Image:
    """The normalised ``[3, H, W]`` input back as an 8-bit RGB picture."""
    mean = torch.tensor(normalization.mean)[:, None, None]
    std = torch.tensor(normalization.std)[:, None, None]
    pixels = (image.float().cpu() * std + mean).clamp(0, 1) * 255
    return Image.fromarray(pixels.round().byte().permute(1, 2, 0).numpy())


def _tiles(
    net: nn.Module,
    task: Task,
    sample: dict,
    normalization: Normalization,
    names: list[str],
    device: torch.device,
) -> Tiles:
    """One row of the strip: the input, its truth and the prediction, enlarged alike."""
    batch = move_batch(collate([sample]), device, channels_last=False)  # what else it reads too
    prediction = task.predict(task.forward(net, batch))
    prediction = task.confident(prediction, DEFAULT_CONF, DEFAULT_MAX_DET)
    picture = _picture(sample["image"], normalization)
    scale = strip_scale(picture.height, picture.width)
    with drawing(scale=scale, legend=False):
        truth = task.draw_truth(picture, sample, names)
        overlay = task.image_result(picture, prediction, names).overlay
    size = (picture.width * scale, picture.height * scale)
    # A task that draws without the figures' helpers draws at the input's own size.
    truth, overlay = (
        t if t.size == size else t.resize(size, Image.Resampling.NEAREST) for t in (truth, overlay)
    )
    return enlarged(picture, scale), truth, overlay


def _compose(rows: Sequence[Tiles], names: list[str]) -> Image.Image:
    """The tiles in a grid, :data:`STRIP_GAP` apart, and the legend band under them."""
    width, height = rows[0][0].size
    grid_width = STRIP_COLUMNS * width + (STRIP_COLUMNS - 1) * STRIP_GAP
    grid_height = len(rows) * height + (len(rows) - 1) * STRIP_GAP
    band = legend_band(names, grid_width)
    below = STRIP_GAP + band.height if band is not None else 0
    strip = Image.new("RGB", (grid_width, grid_height + below), (255, 255, 255))
    for row, tiles in enumerate(rows):
        for column, tile in enumerate(tiles):
            strip.paste(tile, (column * (width + STRIP_GAP), row * (height + STRIP_GAP)))
    if band is not None:
        strip.paste(band, (0, grid_height + STRIP_GAP))
    return strip


def prediction_strip(
    net: nn.Module,
    task: Task,
    dataset: Dataset,
    normalization: Normalization,
    names: list[str],
    device: torch.device,
) -> Image.Image:
    """The strip (see the module docstring) of the ``n = min(STRIP_IMAGES, len(dataset))``
    images of size ``H x W``, scaled ``k =`` :func:`strip_scale` times: ``3 kW + 2 gaps``
    wide, ``n kH + (n - 1) gaps`` high, plus a gap and the legend band."""
    count = min(STRIP_IMAGES, len(dataset))  # type: ignore[arg-type]
    if count == 0:
        raise ValueError("no validation image to draw predictions on")
    net.eval()
    with torch.inference_mode():
        rows = [
            _tiles(net, task, dataset[index], normalization, names, device)
            for index in range(count)
        ]
    return _compose(rows, names)


def per_class_scores(
    net: nn.Module, task: Task, dataset: Dataset, names: list[str], device: torch.device
) -> list[ClassScore]:
    """The task's per-class score (IoU, COCO AP) over ``dataset``, NaN where undefined, as
    ``graphspec val`` reports them."""
    evaluator = task.evaluator(device)
    assert isinstance(evaluator, PerClassEvaluator)  # a task with a per_class_name
    net.eval()
    with torch.inference_mode():
        for batch in DataLoader(dataset, batch_size=8, collate_fn=collate):
            batch = move_batch(batch, device, channels_last=False)
            evaluator.update(task.predict(task.forward(net, batch)), batch)
    return evaluator.per_class(names).scores
