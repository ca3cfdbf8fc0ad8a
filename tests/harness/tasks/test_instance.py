"""Instance segmentation (Mask R-CNN) with the harness: a training step, decoded masks,
both mAPs, pictures and COCO results with RLE masks, and test-time views."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from benchmarks.data import collate, make_dataset
from benchmarks.tasks import task_for
from benchmarks.tasks.base import View
from benchmarks.tasks.instance import InstanceTask
from compiler import build_network, compile_graph
from graphspec import load_spec
from tests import SPECS

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    # pycocotools' decode calls np.array(copy=False) on its own objects (NumPy 2 notice)
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def setup():
    spec = load_spec(SPECS / "mask-rcnn-small.yaml")
    graph = compile_graph(spec)
    task = task_for(spec, graph)
    data = make_dataset("shapes", "train", (64, 64), num_classes=4, limit=8)
    torch.manual_seed(0)
    return task, build_network(graph), collate([data[i] for i in range(8)])


def test_a_training_step_adds_the_weighted_mask_loss(setup) -> None:
    task, net, batch = setup
    assert isinstance(task, InstanceTask)
    losses = task.loss(task.forward(net.train(), batch), batch)
    assert {"mask", "box_class", "rpn_class"} <= set(losses)
    parts = sum(
        float(losses[k].detach()) for k in ("box_class", "box_regression", "rpn_class", "rpn_box")
    )
    assert math.isclose(float(losses["loss"].detach()), parts + float(losses["mask"]), rel_tol=1e-5)
    losses["loss"].backward()
    assert net.mask_logits.weight.grad is not None and net.mask_logits.weight.grad.abs().sum() > 0


def test_decoded_masks_lie_in_their_boxes_and_are_scored(setup) -> None:
    task, net, batch = setup
    with torch.no_grad():
        found = task.predict(task.forward(net.eval(), batch))
    for dets in found:
        masks = dets["masks"]
        assert masks.dtype == torch.bool and masks.shape[1:] == (64, 64)
        assert len(masks) == len(dets["boxes"]) <= 20
        for mask, box in zip(masks, dets["boxes"], strict=True):
            ys, xs = mask.nonzero(as_tuple=True)
            if len(xs):  # every pixel centre of the mask lies inside its box
                assert xs.min() + 0.5 >= box[0] - 1e-4 and xs.max() + 0.5 <= box[2] + 1e-4
                assert ys.min() + 0.5 >= box[1] - 1e-4 and ys.max() + 0.5 <= box[3] + 1e-4
    evaluator = task.evaluator()
    evaluator.update(found, batch)
    metrics = evaluator.compute()
    assert {"mask_map", "mask_map50", "map", "map50"} <= set(metrics)
    assert [c.name for c in evaluator.per_class(["background", "a", "b", "c"]).scores] == [
        "a",
        "b",
        "c",
    ]


def test_pictures_and_coco_results_carry_each_instance(setup) -> None:
    task, _, _ = setup
    masks = torch.zeros(2, 64, 64, dtype=torch.bool)
    masks[0, 10:20, 10:30] = True
    masks[1, 15:40, 25:35] = True
    dets = [
        {
            "boxes": torch.tensor([[10.0, 10.0, 30.0, 20.0], [25.0, 15.0, 35.0, 40.0]]),
            "scores": torch.tensor([0.9, 0.8]),
            "labels": torch.tensor([1, 2]),
            "masks": masks,
        }
    ]
    image = Image.new("RGB", (128, 128), (40, 40, 40))  # twice the input size
    result = task.image_result(image, dets, ["background", "circle", "square", "triangle"])
    ids = result.mask
    assert ids.shape == (128, 128) and set(np.unique(ids)) == {0, 1, 2}
    assert (ids[20:40, 50:60] == 1).all()  # instance 0 wins where the two overlap
    first = mask_utils.decode(
        {
            **result.detections[0]["segmentation"],
            "counts": result.detections[0]["segmentation"]["counts"].encode(),
        }
    )
    assert first.shape == (128, 128) and first.sum() == 4 * masks[0].sum()
    assert result.overlay.size[0] >= 128


def test_views_map_masks_back_and_merging_keeps_them(setup) -> None:
    task, _, _ = setup
    mask = torch.zeros(1, 32, 32, dtype=torch.bool)
    mask[0, 4:8, 0:4] = True  # a half-size, mirrored view
    dets = [
        {
            "boxes": torch.tensor([[28.0, 4.0, 32.0, 8.0]]),
            "scores": torch.tensor([0.5]),
            "labels": torch.tensor([1]),
            "masks": mask,
        }
    ]
    back = task.unview(dets, View((32, 32), (64, 64), flipped=True))[0]
    expected = torch.zeros(64, 64, dtype=torch.bool)
    expected[8:16, 56:64] = True
    assert torch.equal(back["masks"][0], expected)
    assert back["boxes"].tolist() == [[0.0, 8.0, 8.0, 16.0]]
    merged = task.merge([[back], [back]])[0]
    assert len(merged["masks"]) == 1 and torch.equal(merged["masks"][0], expected)


def test_predict_writes_instance_ids_and_rle_masks(setup, tmp_path) -> None:
    import json

    from graphspec.cli import main

    _, net, batch = setup
    weights = tmp_path / "w.pt"
    torch.save(net.state_dict(), weights)
    pixels = (batch["image"][0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(pixels).resize((96, 80)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    args = [str(SPECS / "mask-rcnn-small.yaml"), str(tmp_path / "a.png"), "--weights", str(weights)]
    assert main(["predict", *args, "--out", str(out), "--conf", "0"]) == 0
    ids = np.asarray(Image.open(out / "a_mask.png"))
    found = json.loads((out / "predictions.json").read_text())
    assert ids.shape == (80, 96) and int(ids.max()) <= len(found) <= 20
    for number, entry in enumerate(found, start=1):
        rle = {**entry["segmentation"], "counts": entry["segmentation"]["counts"].encode()}
        mask = mask_utils.decode(rle).astype(bool)
        assert mask.shape == (80, 96)
        assert (ids == number).sum() <= mask.sum()  # an overlap goes to the better one


def test_an_object_without_a_mask_teaches_no_mask(setup) -> None:
    task, net, batch = setup
    torch.manual_seed(1)
    out = task.forward(net.train(), batch)
    with_masks = float(task.loss(out, batch)["mask"])
    blank = {**batch, "instance_masks": [torch.zeros_like(m) for m in batch["instance_masks"]]}
    assert with_masks > 0 and float(task.loss(out, blank)["mask"]) == 0.0
