"""What a job's predictions look like: a strip of fixed validation images and per-class scores.

The strip has one row per image (the first :data:`STRIP_IMAGES` of the validation split, so
every job of a sweep shows the same pictures) and three columns at the input size: the
image, the ground truth and the prediction, drawn by the task. The per-class numbers are
those of the test split, so their mean is the row's metric: IoU per class for segmentation
(the mean over defined classes is ``miou``), COCO AP per class for detection (the mean over
classes with ground truth is ``map``). Both are computed on the main rank alone, over the
whole split, with the best weights.
"""

from __future__ import annotations

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmarks.data import collate
from benchmarks.data.normalize import Normalization
from benchmarks.metrics.per_class import ClassScore
from benchmarks.runtime.placement import move_batch
from benchmarks.tasks.base import PerClassEvaluator, Task

__all__ = ["STRIP_COLUMNS", "STRIP_IMAGES", "per_class_scores", "prediction_strip"]

STRIP_IMAGES = 4  # validation images shown, always the first ones of the split
STRIP_COLUMNS = 3  # input, ground truth, prediction


def _picture(image: torch.Tensor, normalization: Normalization) -> Image.Image:
    """The normalised ``[3, H, W]`` input back as an 8-bit RGB picture."""
    mean = torch.tensor(normalization.mean)[:, None, None]
    std = torch.tensor(normalization.std)[:, None, None]
    pixels = (image.float().cpu() * std + mean).clamp(0, 1) * 255
    return Image.fromarray(pixels.round().byte().permute(1, 2, 0).numpy())


def prediction_strip(
    net: nn.Module,
    task: Task,
    dataset: Dataset,
    normalization: Normalization,
    names: list[str],
    device: torch.device,
) -> Image.Image:
    """The strip (see the module docstring): ``STRIP_COLUMNS * W`` wide, ``n * H`` high
    for the ``n = min(STRIP_IMAGES, len(dataset))`` images of size ``H x W``."""
    count = min(STRIP_IMAGES, len(dataset))  # type: ignore[arg-type]
    if count == 0:
        raise ValueError("no validation image to draw predictions on")
    rows = []
    net.eval()
    with torch.inference_mode():
        for index in range(count):
            sample = dataset[index]
            batch = move_batch({"image": sample["image"][None]}, device, channels_last=False)
            prediction = task.predict(task.forward(net, batch))
            picture = _picture(sample["image"], normalization)
            truth = task.draw_truth(picture, sample, names)
            rows.append((picture, truth, task.image_result(picture, prediction, names).overlay))
    width, height = rows[0][0].size
    strip = Image.new("RGB", (STRIP_COLUMNS * width, count * height))
    for row, tiles in enumerate(rows):
        for column, tile in enumerate(tiles):
            strip.paste(tile, (column * width, row * height))
    return strip


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
