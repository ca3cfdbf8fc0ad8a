"""Training flips and input normalisation: hand-worked items, reproducibility, the options."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from benchmarks.data import Sample, ShapesDataset, collate
from benchmarks.data.augment import RandomHorizontalFlip, flip_sample
from benchmarks.data.normalize import (
    IMAGENET,
    NO_NORMALIZATION,
    SHAPES,
    Normalization,
    NormalizedDataset,
    parse_normalization,
)


def _two_by_three() -> Sample:
    """A 2x3 image (channel c holds 10c + 1..6 row-major), its mask and two boxes."""
    base = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    return {
        "image": torch.stack([base, base + 10, base + 20]),
        "mask": torch.tensor([[0, 1, 2], [3, 4, 255]]),
        "boxes": torch.tensor([[0.0, 0.0, 1.0, 2.0], [1.0, 0.0, 3.0, 1.0]]),
        "labels": torch.tensor([1, 2]),
        "image_id": 7,
    }


def _assert_same(a: Sample, b: Sample) -> None:
    assert a.keys() == b.keys()
    for key in ("image", "mask", "boxes", "labels"):
        assert torch.equal(a[key], b[key]), key
    assert a["image_id"] == b["image_id"]


def test_flip_by_hand():
    flipped = flip_sample(_two_by_three())
    base = torch.tensor([[3.0, 2.0, 1.0], [6.0, 5.0, 4.0]])
    assert torch.equal(flipped["image"], torch.stack([base, base + 10, base + 20]))
    assert torch.equal(flipped["mask"], torch.tensor([[2, 1, 0], [255, 4, 3]]))
    # Width 3: [x1, x2] -> [3 - x2, 3 - x1]. Column 0 becomes column 2; columns 1-2, 0-1.
    assert torch.equal(flipped["boxes"], torch.tensor([[2.0, 0.0, 3.0, 2.0], [0.0, 0.0, 2.0, 1.0]]))
    assert torch.equal(flipped["labels"], torch.tensor([1, 2]))
    assert flipped["image_id"] == 7


def test_flip_leaves_its_input_alone_and_twice_is_identity():
    item = ShapesDataset("train", image_size=(24, 32), num_classes=4, length=1)[0]
    kept = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in item.items()}
    twice = flip_sample(flip_sample(item))
    _assert_same(twice, kept)  # type: ignore[arg-type]
    _assert_same(item, kept)  # type: ignore[arg-type]


def test_flip_of_an_image_without_boxes():
    item = {**_two_by_three(), "boxes": torch.zeros(0, 4), "labels": torch.zeros(0)}
    assert flip_sample(item)["boxes"].shape == (0, 4)  # type: ignore[arg-type]


def _shapes(length: int = 64) -> ShapesDataset:
    return ShapesDataset("train", image_size=(16, 16), num_classes=4, length=length)


def test_flips_are_fixed_by_seed_and_epoch():
    data = _shapes()
    first, second, other_seed = (RandomHorizontalFlip(data, seed=s) for s in (3, 3, 4))
    for wrapper in (first, second, other_seed):
        wrapper.set_epoch(5)
    decisions = [first.flips(i) for i in range(64)]
    assert decisions == [second.flips(i) for i in range(64)]
    assert decisions != [other_seed.flips(i) for i in range(64)]
    first.set_epoch(6)
    assert decisions != [first.flips(i) for i in range(64)]
    first.set_epoch(5)
    assert decisions == [first.flips(i) for i in range(64)]
    # Each item is the original or its mirror, as the decision says.
    for i in range(8):
        expected = flip_sample(data[i]) if decisions[i] else data[i]
        _assert_same(first[i], expected)


def test_set_epoch_reaches_a_wrapped_flip():
    flips = RandomHorizontalFlip(_shapes(), seed=0)
    NormalizedDataset(flips, SHAPES).set_epoch(3)
    assert flips.epoch == 3
    NormalizedDataset(_shapes(), SHAPES).set_epoch(3)  # nothing to pass it to: no error


def test_about_half_the_items_are_flipped():
    wrapper = RandomHorizontalFlip(_shapes(400), seed=0)
    count = sum(wrapper.flips(i) for i in range(400))
    assert 150 <= count <= 250  # Binomial(400, 0.5): sd 10, so 5 sd either side


def test_workers_see_the_epoch_set_in_the_main_process():
    wrapper = RandomHorizontalFlip(_shapes(8), seed=1)
    loader = DataLoader(
        wrapper, batch_size=4, num_workers=2, persistent_workers=True, collate_fn=collate
    )
    for epoch in (0, 1):
        wrapper.set_epoch(epoch)
        images = torch.cat([batch["image"] for batch in loader])
        expected = torch.stack([wrapper[i]["image"] for i in range(8)])
        assert torch.equal(images, expected), epoch


def test_wrappers_keep_the_dataset_attributes():
    data = _shapes()
    for wrapper in (RandomHorizontalFlip(data), NormalizedDataset(data, SHAPES)):
        assert len(wrapper) == 64
        assert wrapper.num_classes == 4
        assert wrapper.class_names == data.class_names
        assert wrapper.image_size == (16, 16)


def test_normalisation_by_hand():
    norm = Normalization("custom", (0.5, 0.25, 0.0), (0.25, 0.5, 2.0))
    image = torch.tensor([[[0.5, 1.0]], [[0.25, 0.0]], [[1.0, 0.5]]])  # [3, 1, 2]
    expected = torch.tensor([[[0.0, 2.0]], [[0.0, -0.5]], [[0.5, 0.25]]])
    assert torch.allclose(norm.apply(image), expected)
    assert torch.allclose(norm.apply(image[None]), expected[None])  # batched too
    with pytest.raises(ValueError, match="RGB image"):
        norm.apply(torch.zeros(1, 4, 4))


class _One(Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> Sample:
        return _two_by_three()


def test_normalized_dataset_changes_only_the_image():
    item = NormalizedDataset(_One(), Normalization("custom", (1, 11, 21), (2, 2, 2)))[0]
    base = torch.tensor([[0.0, 0.5, 1.0], [1.5, 2.0, 2.5]])
    assert torch.allclose(item["image"], torch.stack([base, base, base]))
    original = _two_by_three()
    for key in ("mask", "boxes", "labels"):
        assert torch.equal(item[key], original[key])


def test_shapes_statistics_are_the_stated_measurement():
    # normalize.py: the first 256 train images of seed 0 at 64x64, population std.
    data = ShapesDataset("train", image_size=(64, 64), num_classes=4, length=256, seed=0)
    images = torch.stack([data[i]["image"] for i in range(256)]).double()
    mean = images.mean(dim=(0, 2, 3))
    std = images.std(dim=(0, 2, 3), unbiased=False)
    assert SHAPES.mean == pytest.approx(mean.tolist(), abs=5e-4)
    assert SHAPES.std == pytest.approx(std.tolist(), abs=5e-4)


CUSTOM = Normalization("custom", (0.5, 0.4, 0.3), (0.2, 0.1, 1.0))


@pytest.mark.parametrize(
    ("option", "source", "expected"),
    [
        ("dataset", "shapes", SHAPES),
        ("dataset", "voc:/data/VOC2012", IMAGENET),
        ("Dataset", "coco:/data/coco", IMAGENET),
        ("imagenet", "shapes", IMAGENET),
        ("none", "voc:/x", NO_NORMALIZATION),
        ("0.5,0.4,0.3/0.2,0.1,1", "shapes", CUSTOM),
    ],
)
def test_parse_normalization(option: str, source: str, expected: Normalization):
    assert parse_normalization(option, source) == expected


@pytest.mark.parametrize(
    ("option", "phrase"),
    [
        ("imagnet", "expected one of: dataset, imagenet, none, m1,m2,m3/s1,s2,s3"),
        ("0.5,0.5/0.2,0.2,0.2", "the means must be 3 comma-separated numbers"),
        ("0.5,0.5,0.5/0.2,x,0.2", "the stds must be 3 comma-separated numbers"),
        ("0.5,0.5,0.5/0.2,0,0.2", "stds must be > 0"),
        ("nan,0.5,0.5/1,1,1", "must be finite"),
    ],
)
def test_bad_normalization_option(option: str, phrase: str):
    with pytest.raises(ValueError, match="bad --normalize") as info:
        parse_normalization(option, "shapes")
    assert phrase in str(info.value)
    assert "\n" not in str(info.value)


def test_normalization_json_and_identity():
    assert IMAGENET.as_json() == {
        "name": "imagenet",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    }
    image = torch.rand(3, 4, 5)
    assert torch.equal(NO_NORMALIZATION.apply(image), image)
