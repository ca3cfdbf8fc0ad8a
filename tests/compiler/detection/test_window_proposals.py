"""Built-in window proposals: output contract, determinism, batching and recall on shapes."""

from __future__ import annotations

import pytest
import torch

from benchmarks.data.shapes import ShapesDataset
from compiler.detection.box_ops import box_iou
from compiler.detection.window_proposals import default_sizes, window_proposals

# Small ops on two threads of a busy 2-core machine can be ten times slower than on one.
pytestmark = pytest.mark.usefixtures("one_thread")


def square_image(size: int = 64, box: tuple[int, int, int, int] = (20, 12, 38, 30)) -> torch.Tensor:
    """One bright square (``box`` is xyxy in pixels) on black, ``[1, 3, size, size]``."""
    image = torch.zeros(1, 3, size, size)
    x1, y1, x2, y2 = box
    image[:, :, y1:y2, x1:x2] = 1.0
    return image


def noisy_images(count: int, size: int = 48, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, 3, size, size, generator=generator)


def test_bright_square_is_the_best_proposal():
    box = (20, 12, 38, 30)
    (boxes,) = window_proposals(square_image(box=box))
    iou = box_iou(boxes[:1], torch.tensor([box], dtype=torch.float32))
    assert iou.item() > 0.7


def test_non_square_object_found_at_other_image_size():
    box = (30, 40, 90, 70)  # 60 x 30 on a 96 x 128 image
    image = torch.zeros(1, 3, 96, 128)
    image[:, :, box[1] : box[3], box[0] : box[2]] = torch.tensor([0.2, 0.9, 0.4])[:, None, None]
    (boxes,) = window_proposals(image, count=20)
    assert box_iou(boxes[:1], torch.tensor([box], dtype=torch.float32)).item() > 0.7


def test_output_shapes_dtype_device_and_count():
    images = noisy_images(3)
    out = window_proposals(images, count=25)
    assert isinstance(out, list) and len(out) == 3
    for boxes in out:
        assert boxes.dtype == torch.float32
        assert boxes.device == images.device
        assert boxes.dim() == 2 and boxes.shape[1] == 4
        assert 1 <= boxes.shape[0] <= 25
        assert not boxes.requires_grad


def test_count_respected_and_prefix_consistent():
    images = noisy_images(1)
    (small,) = window_proposals(images, count=5)
    (large,) = window_proposals(images, count=100)
    assert small.shape[0] == 5 and large.shape[0] <= 100
    assert large.shape[0] > 5


def test_boxes_inside_image_and_valid():
    images = noisy_images(2, size=40)
    images = torch.nn.functional.pad(images, (0, 20))  # 40 x 60: not square
    for boxes in window_proposals(images):
        assert torch.isfinite(boxes).all()
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
        assert (boxes[:, 2] <= 60).all() and (boxes[:, 3] <= 40).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def test_deterministic():
    images = noisy_images(2)
    first = window_proposals(images, count=50)
    second = window_proposals(images.clone(), count=50)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


def test_constant_image_still_returns_boxes():
    (boxes,) = window_proposals(torch.full((1, 3, 32, 32), 0.5), count=10)
    assert boxes.shape == (10, 4)
    assert torch.isfinite(boxes).all()


def test_batch_equals_each_image_alone():
    images = torch.cat((noisy_images(1, seed=1), square_image(size=48, box=(5, 8, 25, 30))))
    batched = window_proposals(images, count=40)
    for index in range(2):
        (alone,) = window_proposals(images[index : index + 1], count=40)
        assert torch.equal(batched[index], alone)
    assert not torch.equal(batched[0], batched[1])


def test_gradients_and_input_dtype_do_not_matter():
    image = square_image().requires_grad_(True)
    (from_float,) = window_proposals(image)
    (from_bytes,) = window_proposals((square_image() * 255).to(torch.uint8))
    assert not from_float.requires_grad
    assert torch.equal(from_float[:1], from_bytes[:1])


def test_explicit_sizes_ratios_and_stride():
    (boxes,) = window_proposals(square_image(), sizes=[18.0], ratios=[1.0], stride=4.0, count=3)
    assert boxes.shape[0] <= 3
    assert box_iou(boxes[:1], torch.tensor([[20.0, 12.0, 38.0, 30.0]])).item() > 0.7


def test_default_sizes_span_an_eighth_to_three_quarters():
    sizes = default_sizes(64, 96)
    assert len(sizes) == 6
    assert sizes[0] == pytest.approx(8.0) and sizes[-1] == pytest.approx(48.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": 0},
        {"ratios": ()},
        {"ratios": (1.0, -1.0)},
        {"sizes": []},
        {"sizes": [8.0, 0.0]},
        {"stride": 0.0},
        {"nms_iou": 0.0},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        window_proposals(noisy_images(1), **kwargs)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 3, 1, 32)])
def test_needs_a_4d_batch_of_at_least_2x2(shape):
    with pytest.raises(ValueError):
        window_proposals(torch.zeros(shape))


def test_empty_batch_and_tiny_image():
    assert window_proposals(torch.zeros(0, 3, 32, 32)) == []
    (boxes,) = window_proposals(torch.rand(1, 3, 2, 2))
    assert boxes.tolist() == [[0.0, 0.0, 2.0, 2.0]]


def test_recall_on_shapes():
    data = ShapesDataset("train", image_size=(64, 64), num_classes=4, length=50, seed=0)
    items = [data[i] for i in range(len(data))]
    proposals = window_proposals(torch.stack([item["image"] for item in items]), count=300)
    best = torch.cat(
        [
            box_iou(item["boxes"], boxes).amax(dim=1)
            for item, boxes in zip(items, proposals, strict=True)
        ]
    )
    assert (best >= 0.5).float().mean().item() >= 0.85
