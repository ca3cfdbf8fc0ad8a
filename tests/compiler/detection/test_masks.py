"""Mask R-CNN's mask maths on hand-worked examples: targets, loss, pasting."""

from __future__ import annotations

import math

import torch

from compiler.detection.masks import mask_loss, mask_targets, paste_masks


def test_targets_crop_the_matched_mask_by_the_roi() -> None:
    left = torch.zeros(8, 8)
    left[:, :4] = 1  # the left half
    full = torch.ones(8, 8)
    masks = [torch.stack([left, full])]
    rois = [torch.tensor([[0.0, 0.0, 8.0, 8.0], [4.0, 0.0, 8.0, 8.0], [4.0, 0.0, 8.0, 8.0]])]
    matched = [torch.tensor([0, 0, 1])]
    targets = mask_targets(masks, rois, matched, (4, 4))
    assert targets[0].tolist() == [[1.0, 1.0, 0.0, 0.0]] * 4  # whole image: left half
    assert not targets[1].any()  # the right half of the left-half mask is empty
    assert targets[2].all()  # the right half of the full mask is full


def test_loss_reads_only_the_ground_truth_class_map() -> None:
    logits = torch.zeros(2, 3, 2, 2, requires_grad=True)
    labels = torch.tensor([1, 2])
    targets = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]])
    loss = mask_loss(logits, labels, targets)
    assert math.isclose(
        float(loss.detach()), math.log(2), rel_tol=1e-6
    )  # sigmoid(0) = 1/2 everywhere
    loss.backward()
    grad = logits.grad
    assert grad is not None
    assert not grad[:, 0].any() and not grad[0, 2].any() and not grad[1, 1].any()
    # d/dx BCE(sigmoid x, t) = sigmoid(x) - t, over 8 pixels: (0.5 - 1) / 8 at a target 1
    assert math.isclose(float(grad[1, 2, 0, 0]), -0.5 / 8, rel_tol=1e-6)
    empty = mask_loss(torch.zeros(0, 3, 2, 2, requires_grad=True), labels[:0], targets[:0])
    assert float(empty.detach()) == 0.0 and empty.requires_grad


def test_paste_stretches_each_mask_over_its_box() -> None:
    # Pixel centres 2.5 .. 5.5 fall inside the box [2, 6); bilinear sampling of a 2x2 map
    # (zero outside) gives 0.75 at the box's outer centres, 0.25 just outside it.
    full = torch.ones(2, 2)
    corner = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    pasted = paste_masks(
        torch.stack([full, corner]), torch.tensor([[2.0, 2.0, 6.0, 6.0]] * 2), (8, 8)
    )
    box = torch.zeros(8, 8, dtype=torch.bool)
    box[2:6, 2:6] = True
    assert torch.equal(pasted[0], box)
    quarter = torch.zeros(8, 8, dtype=torch.bool)
    quarter[2:4, 2:4] = True
    assert torch.equal(pasted[1], quarter)
    assert paste_masks(torch.zeros(0, 2, 2), torch.zeros(0, 4), (8, 8)).shape == (0, 8, 8)
