"""Synthetic shapes data: determinism, mask/box agreement, class balance, split separation."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from benchmarks.data import (
    SHAPE_NAMES,
    DataError,
    ShapesDataset,
    collate,
    make_dataset,
)
from benchmarks.data.shapes import shape_patch
from tests import REPO


def _digest(item: dict) -> str:
    h = hashlib.sha256()
    for key in ("image", "mask", "boxes", "labels"):
        h.update(item[key].numpy().tobytes())
    h.update(str(item["image_id"]).encode())
    return h.hexdigest()


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in ("image", "mask", "boxes", "labels")) and (
        a["image_id"] == b["image_id"]
    )


def test_item_layout_and_types() -> None:
    ds = ShapesDataset("train", image_size=(48, 80), num_classes=5, length=3)
    assert len(ds) == 3
    assert ds.num_classes == 5
    assert ds.class_names == ["background", "circle", "square", "triangle", "ellipse"]
    assert ds.image_size == (48, 80)
    item = ds[1]
    assert item["image"].shape == (3, 48, 80) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (48, 80) and item["mask"].dtype == torch.int64
    assert item["boxes"].dtype == torch.float32 and item["boxes"].shape[1] == 4
    assert item["labels"].dtype == torch.int64
    assert item["boxes"].shape[0] == item["labels"].shape[0]
    assert 1 <= len(item["labels"]) <= 4
    assert item["image_id"] == 1
    assert float(item["image"].min()) >= 0.0 and float(item["image"].max()) <= 1.0


def test_default_lengths() -> None:
    assert [len(ShapesDataset(s)) for s in ("train", "val", "test")] == [512, 128, 128]


def test_same_item_twice_and_across_instances() -> None:
    a = ShapesDataset("train", seed=3)
    b = ShapesDataset("train", seed=3, cache=False)
    for i in (0, 7, 300):
        first = a[i]
        assert _same(first, a[i])  # from cache
        assert _same(first, b[i])  # regenerated in a fresh instance
        assert _same(first, b.generate(i))


def test_cached_item_is_not_changed_by_caller_edits() -> None:
    ds = ShapesDataset("val", length=2)
    expected = ds.generate(0)
    item = ds[0]
    item["image"].zero_()
    item["mask"].fill_(7)
    assert _same(ds[0], expected)


def test_items_identical_in_another_process() -> None:
    """Python's str hash is salted per process; a seed derived from it would fail here."""
    here = [_digest(ShapesDataset("val", seed=11)[i]) for i in (0, 5)]
    code = (
        "import hashlib\n"
        "from benchmarks.data import ShapesDataset\n"
        "ds = ShapesDataset('val', seed=11)\n"
        "for i in (0, 5):\n"
        "    it = ds[i]; h = hashlib.sha256()\n"
        "    for k in ('image', 'mask', 'boxes', 'labels'): h.update(it[k].numpy().tobytes())\n"
        "    h.update(str(it['image_id']).encode()); print(h.hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == here


def test_seeds_and_splits_differ() -> None:
    base = ShapesDataset("train", seed=0, length=8)
    other_seed = ShapesDataset("train", seed=1, length=8)
    val = ShapesDataset("val", seed=0, length=8)
    test = ShapesDataset("test", seed=0, length=8)
    digests = [{_digest(ds[i]) for i in range(8)} for ds in (base, other_seed, val, test)]
    for i, left in enumerate(digests):
        assert len(left) == 8  # items within a split differ too
        for right in digests[i + 1 :]:
            assert not left & right


def test_masks_agree_with_boxes_and_labels() -> None:
    k = 6
    ds = ShapesDataset("train", image_size=(64, 64), num_classes=k + 1, length=96, seed=5)
    overlapping_pairs = 0
    for i in range(len(ds)):
        item = ds[i]
        mask, boxes, labels = item["mask"], item["boxes"], item["labels"]
        assert set(torch.unique(mask).tolist()) <= set(range(k + 1))
        assert bool(((labels >= 1) & (labels <= k)).all())
        covered = torch.zeros_like(mask, dtype=torch.bool)
        for (x0, y0, x1, y1), label in zip(boxes.tolist(), labels.tolist(), strict=True):
            assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
            assert x0 == int(x0) and y1 == int(y1)  # boxes hug whole pixels
            region = mask[int(y0) : int(y1), int(x0) : int(x1)]
            # The generator keeps every object at least half visible, so its box shows it.
            assert int((region == label).sum()) > 0
            covered[int(y0) : int(y1), int(x0) : int(x1)] |= region == label
        # Every object pixel lies inside a box of its own class.
        assert bool((covered | (mask == 0)).all())
        # The last-drawn object is never occluded, so it touches all four sides of its box.
        x0, y0, x1, y1 = (int(v) for v in boxes[-1].tolist())
        on = mask[y0:y1, x0:x1] == labels[-1]
        assert bool(on[0].any() and on[-1].any() and on[:, 0].any() and on[:, -1].any())
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                ax0, ay0, ax1, ay1 = boxes[a].tolist()
                bx0, by0, bx1, by1 = boxes[b].tolist()
                if min(ax1, bx1) > max(ax0, bx0) and min(ay1, by1) > max(ay0, by0):
                    overlapping_pairs += 1
    assert overlapping_pairs > 0  # occlusion does happen


def test_class_balance_and_object_counts() -> None:
    k = 3
    ds = ShapesDataset("train", num_classes=k + 1, length=240, seed=0)
    counts = np.zeros(k + 1, dtype=int)
    per_image = []
    background = 0.0
    for i in range(len(ds)):
        item = ds[i]
        counts += np.bincount(item["labels"].numpy(), minlength=k + 1)
        per_image.append(len(item["labels"]))
        background += float((item["mask"] == 0).float().mean())
    objects = counts[1:]
    # Uniform class choice: each class near total/K (binomial sd is ~5% of the mean here).
    assert objects.min() > 0.75 * objects.mean() and objects.max() < 1.25 * objects.mean()
    assert set(per_image) <= {1, 2, 3, 4} and {1, 4} <= set(per_image)
    assert 0.5 < background / len(ds) < 0.95


@pytest.mark.parametrize(
    ("kind", "fill_ratio"),
    [("circle", math.pi / 4), ("square", 1.0), ("diamond", 0.5)],
)
def test_shape_geometry(kind: str, fill_ratio: float) -> None:
    """Class is geometry: the fraction of its box a shape fills is fixed by its kind."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        patch = shape_patch(kind, 30.0, rng)
        assert patch.any(axis=0).all() and patch.any(axis=1).all()  # cropped tight
        assert patch.mean() == pytest.approx(fill_ratio, abs=0.06)


def test_every_shape_kind_renders_within_size() -> None:
    rng = np.random.default_rng(1)
    for kind in SHAPE_NAMES:
        patch = shape_patch(kind, 20.0, rng)
        assert patch.sum() > 40
        assert max(patch.shape) <= 21


def test_collate_stacks_images_and_lists_boxes() -> None:
    ds = ShapesDataset("val", image_size=(32, 40), length=3)
    items = [ds[i] for i in range(3)]
    batch = collate(items)
    assert batch["image"].shape == (3, 3, 32, 40)
    assert batch["mask"].shape == (3, 32, 40)
    assert torch.equal(batch["mask"][2], items[2]["mask"])
    assert [b.shape[0] for b in batch["boxes"]] == [len(it["labels"]) for it in items]
    assert batch["image_id"] == [0, 1, 2]
    assert torch.equal(batch["labels"][1], items[1]["labels"])


def test_make_dataset_shapes_and_limit() -> None:
    ds = make_dataset("shapes", "val", (32, 32), seed=2, limit=5, num_classes=3)
    assert isinstance(ds, ShapesDataset)
    assert (len(ds), ds.num_classes, ds.image_size) == (5, 3, (32, 32))
    assert _same(ds[4], ShapesDataset("val", (32, 32), num_classes=3, seed=2)[4])
    assert len(make_dataset("shapes", "test", (32, 32), limit=1000)) == 128


@pytest.mark.parametrize("source", ["shape", "voc", "voc:", "coco:", "imagenet:/data", ""])
def test_unknown_source_lists_valid_forms(source: str) -> None:
    with pytest.raises(DataError) as err:
        make_dataset(source, "train", (32, 32))
    assert "shapes" in str(err.value) and "voc:PATH" in str(err.value)
    assert "coco:PATH" in str(err.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"split": "dev"}, {"num_classes": 1}, {"num_classes": 11}, {"image_size": (8, 8)}],
)
def test_bad_arguments_raise_data_error(kwargs: dict) -> None:
    args = {"split": "train", "image_size": (64, 64), **kwargs}
    with pytest.raises(DataError):
        ShapesDataset(**args)
