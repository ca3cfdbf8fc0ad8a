"""Recall and speed of the built-in window proposals on the shapes data.

Protocol (``python -m benchmarks.tools.proposal_recall``):

* data: ``ShapesDataset("train", image_size=(S, S), num_classes=4, length=--images,
  seed=--seed)`` for S in ``--sizes`` (default 64 and 128); every ground-truth box counts.
* proposals: ``compiler.detection.window_proposals.window_proposals`` with its defaults
  except ``count`` (``--count``, default 300), on the whole split in batches of ``--batch``
  (default 32), float32 on the CPU with ``torch.set_num_threads(--threads)`` (default 1).
* recall at IoU t: the fraction of ground-truth boxes whose best IoU
  (``compiler.detection.box_ops.box_iou``) with any proposal of their image is >= t, for
  t = 0.5 and 0.7; also mean proposals per image and mean best IoU.
* time per image: best of ``--repeats`` (default 3) passes over the split divided by the
  number of images (proposal computation only; data generation is excluded).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from benchmarks.data.shapes import ShapesDataset
from compiler.detection.box_ops import box_iou
from compiler.detection.window_proposals import window_proposals


@dataclass(frozen=True)
class RecallResult:
    """One row of the report: recall at the two IoU thresholds, counts and speed."""

    image_size: int
    recall_50: float
    recall_70: float
    mean_best_iou: float
    mean_proposals: float
    ms_per_image: float


def load_shapes(image_size: int, length: int, seed: int) -> tuple[Tensor, list[Tensor]]:
    """Images ``[N, 3, S, S]`` and per-image ground-truth boxes of one shapes split."""
    data = ShapesDataset("train", image_size=(image_size, image_size), num_classes=4,
                         length=length, seed=seed)  # fmt: skip
    items = [data[i] for i in range(len(data))]
    return torch.stack([item["image"] for item in items]), [item["boxes"] for item in items]


def best_ious(proposals: list[Tensor], truths: list[Tensor]) -> Tensor:
    """For every ground-truth box, its best IoU with a proposal of the same image."""
    best = [
        box_iou(truth, boxes).amax(dim=1) if boxes.numel() else torch.zeros(len(truth))
        for boxes, truth in zip(proposals, truths, strict=True)
    ]
    return torch.cat(best)


def propose_all(images: Tensor, count: int, batch: int) -> list[Tensor]:
    """Proposals for every image, computed ``batch`` images at a time."""
    out: list[Tensor] = []
    for start in range(0, images.shape[0], batch):
        out += window_proposals(images[start : start + batch], count=count)
    return out


def measure(image_size: int, args: argparse.Namespace) -> RecallResult:
    """Recall and time for one image size (see the module docstring for the protocol)."""
    images, truths = load_shapes(image_size, args.images, args.seed)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        proposals = propose_all(images, args.count, args.batch)
        times.append(time.perf_counter() - start)
    ious = best_ious(proposals, truths)
    return RecallResult(
        image_size=image_size,
        recall_50=float((ious >= 0.5).float().mean()),
        recall_70=float((ious >= 0.7).float().mean()),
        mean_best_iou=float(ious.mean()),
        mean_proposals=sum(len(p) for p in proposals) / len(proposals),
        ms_per_image=1000 * min(times) / images.shape[0],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"shapes train, {args.images} images, count={args.count}, batch={args.batch}, "
          f"{args.threads} thread(s)")  # fmt: skip
    print("size   recall@0.5  recall@0.7  mean best IoU  proposals/img  ms/img")
    for size in args.sizes:
        r = measure(size, args)
        print(
            f"{r.image_size:>4}   {r.recall_50:>10.3f}  {r.recall_70:>10.3f}  "
            f"{r.mean_best_iou:>13.3f}  {r.mean_proposals:>13.1f}  {r.ms_per_image:>6.2f}"
        )


if __name__ == "__main__":
    main()
