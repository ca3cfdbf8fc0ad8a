"""Time the COCO box-mAP engines on one synthetic split and compare their summary stats.

Protocol (``python -m benchmarks.tools.map_engines --images 5000``):

* data: ``--images`` images of 640 x 480 with 0-11 ground-truth boxes each over
  ``--classes`` classes (2% crowd, area = box area); each box is detected with probability
  0.7 by a jittered copy, plus 0-5 random false positives per image, all with uniform random
  scores. Everything comes from ``numpy.random.default_rng(--seed)``, so a seed is one set.
* engines: the project's ``benchmarks.metrics.detection_map`` (COCO part; it also computes
  VOC07, which is included in its time), ``pycocotools`` ``COCOeval`` and, when installed,
  ``faster_coco_eval`` ``COCOeval_faster``. Each is timed from in-memory per-image arrays to
  its 12 summary stats, including building its inputs (COCO objects, results list), best of
  ``--repeats`` runs, single process.
* agreement: the max absolute difference of the 12 stats (``COCOeval.stats``) from
  pycocotools', the reference the tests use.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmarks.metrics import detection_map

STAT_KEYS = (
    "map", "map50", "map75", "map_small", "map_medium", "map_large",
    "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large",
)  # fmt: skip


@dataclass(frozen=True)
class Split:
    """Per-image xyxy boxes in the torchmetrics layout ``detection_map`` reads."""

    predictions: list[dict[str, np.ndarray]]
    targets: list[dict[str, np.ndarray]]


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    size = rng.uniform(4, 300, (n, 2))
    corner = rng.uniform(0, 1, (n, 2)) * (np.array([640.0, 480.0]) - size)
    return np.concatenate([corner, corner + size], axis=1)


def make_split(images: int, classes: int, seed: int) -> Split:
    """The deterministic synthetic split of the module docstring."""
    rng = np.random.default_rng(seed)
    predictions, targets = [], []
    for _ in range(images):
        gt = _random_boxes(rng, int(rng.integers(0, 12)))
        gt_labels = rng.integers(0, classes, len(gt))
        hit = rng.random(len(gt)) < 0.7
        jitter = rng.normal(0, 0.08, (int(hit.sum()), 4)) * np.tile(gt[hit, 2:] - gt[hit, :2], 2)
        fp = _random_boxes(rng, int(rng.integers(0, 6)))
        boxes = np.concatenate([gt[hit] + jitter, fp])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        targets.append(
            {
                "boxes": gt,
                "labels": gt_labels,
                "iscrowd": rng.random(len(gt)) < 0.02,
                "area": (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]),
            }
        )
        predictions.append(
            {
                "boxes": boxes,
                "labels": np.concatenate([gt_labels[hit], rng.integers(0, classes, len(fp))]),
                "scores": rng.random(len(boxes)),
            }
        )
    return Split(predictions, targets)


def _coco_inputs(split: Split, classes: int) -> tuple[dict[str, object], list[dict[str, object]]]:
    """A COCO ground-truth dataset dict and results list (image ids 1..N, category label+1)."""
    images, annotations, results = [], [], []
    for index, (pred, tgt) in enumerate(zip(split.predictions, split.targets, strict=True)):
        images.append({"id": index + 1, "width": 640, "height": 480})
        for box, label, crowd, area in zip(
            tgt["boxes"], tgt["labels"], tgt["iscrowd"], tgt["area"], strict=True
        ):
            x0, y0, x1, y1 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": int(label) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": float(area),
                    "iscrowd": int(crowd),
                }
            )
        for box, label, score in zip(pred["boxes"], pred["labels"], pred["scores"], strict=True):
            x0, y0, x1, y1 = (float(v) for v in box)
            results.append(
                {
                    "image_id": index + 1,
                    "category_id": int(label) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(score),
                }
            )
    categories = [{"id": c + 1, "name": f"c{c}"} for c in range(classes)]
    return {"images": images, "annotations": annotations, "categories": categories}, results


def run_project(split: Split, classes: int) -> np.ndarray:
    stats = detection_map(split.predictions, split.targets, num_classes=classes)
    return np.array([stats[key] for key in STAT_KEYS], dtype=np.float64)


def run_pycocotools(split: Split, classes: int) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dataset, results = _coco_inputs(split, classes)
    with contextlib.redirect_stdout(io.StringIO()):  # both print progress and the summary
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats, dtype=np.float64)


def run_faster_coco_eval(split: Split, classes: int) -> np.ndarray:
    from faster_coco_eval import COCO, COCOeval_faster

    dataset, results = _coco_inputs(split, classes)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(dataset)
        evaluator = COCOeval_faster(gt, gt.loadRes(results), "bbox", print_function=print)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats[:12], dtype=np.float64)


def _engines() -> dict[str, Callable[[Split, int], np.ndarray]]:
    engines = {"pycocotools": run_pycocotools, "project": run_project}
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        print("faster_coco_eval: not installed, skipped")
    else:
        engines["faster_coco_eval"] = run_faster_coco_eval
    return engines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    if args.images < 1 or args.classes < 1 or args.repeats < 1:
        parser.error("--images, --classes and --repeats must be at least 1")
    split = make_split(args.images, args.classes, args.seed)
    boxes = sum(len(t["boxes"]) for t in split.targets)
    dets = sum(len(p["boxes"]) for p in split.predictions)
    print(f"{args.images} images, {boxes} ground-truth boxes, {dets} detections")
    reference: np.ndarray | None = None
    for name, engine in _engines().items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            stats = engine(split, args.classes)
            times.append(time.perf_counter() - start)
        if reference is None:
            reference = stats
            print("pycocotools stats: " + " ".join(f"{v:.4f}" for v in stats))
        diff = float(np.abs(stats - reference).max())
        print(f"{name:>16}: {min(times):7.2f} s  max |stat - pycocotools| = {diff:.2e}")


if __name__ == "__main__":
    main()
