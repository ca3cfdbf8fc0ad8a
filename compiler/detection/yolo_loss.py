"""The YOLOv1 loss (Redmon et al., "You Only Look Once", section 2.2), batched.

Prediction layout, ``pred[n, i, j]`` for the cell at row ``i`` (y) and column ``j`` (x) of an
``S x S`` grid: for each of the ``B`` predictors ``(x, y, w, h, conf)``, then ``C`` class
scores. The outputs are used as they are, as in the paper:

* ``x, y``: the box centre's offset inside its cell, in cell units (0..1);
* ``w, h``: the *square roots* of the box width and height as fractions of the image (the
  paper regresses square roots so that an error on a small box costs more than on a big
  one); a negative value counts as size 0;
* ``conf``: the predicted IoU between the box and the object (0 without an object);
* class scores: conditional class probabilities, regressed with squared error.

A head that wants sigmoids or softmaxes applies them before calling the loss.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from compiler.detection.box_coding import pad_targets
from compiler.detection.box_ops import box_convert


def split_yolo_output(pred: Tensor, S: int, B: int, C: int) -> tuple[Tensor, Tensor]:
    """``[N, S, S, B*5 + C]`` -> predictor values ``[N, S*S, B, 5]``, class scores ``[N, S*S, C]``.

    Cells come out row-major (index ``i * S + j``).
    """
    if pred.shape[1:] != (S, S, B * 5 + C):
        raise ValueError(f"expected pred of shape [N, {S}, {S}, {B * 5 + C}], got {pred.shape}")
    flat = pred.reshape(pred.shape[0], S * S, B * 5 + C)
    return flat[..., : B * 5].reshape(pred.shape[0], S * S, B, 5), flat[..., B * 5 :]


def yolo_boxes_xyxy(predictors: Tensor, S: int) -> Tensor:
    """Normalised ``xyxy`` boxes of predictor values ``[N, S*S, B, 5]`` -> ``[N, S*S, B, 4]``."""
    cell = torch.arange(S * S, device=predictors.device)
    col = (cell % S).to(predictors.dtype)[None, :, None]
    row = (cell // S).to(predictors.dtype)[None, :, None]
    cx = (col + predictors[..., 0]) / S
    cy = (row + predictors[..., 1]) / S
    w = predictors[..., 2].clamp(min=0) ** 2
    h = predictors[..., 3].clamp(min=0) ** 2
    return box_convert(torch.stack((cx, cy, w, h), dim=-1), "cxcywh", "xyxy")


def _matched_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of corresponding ``xyxy`` boxes (same shape ``[..., 4]``); 0 when both are empty."""
    top_left = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    bottom_right = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area1 = (boxes1[..., 2] - boxes1[..., 0]) * (boxes1[..., 3] - boxes1[..., 1])
    area2 = (boxes2[..., 2] - boxes2[..., 0]) * (boxes2[..., 3] - boxes2[..., 1])
    union = area1 + area2 - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)


class _CellTargets(NamedTuple):
    """The object each grid cell is responsible for (``[N, S*S]`` leading dimensions)."""

    has_object: Tensor  # bool: the cell owns an object; the rest is meaningless elsewhere
    box: Tensor  # [N, S*S, 4] the object's normalised xyxy box
    cxcywh: Tensor  # [N, S*S, 4] the same box as (cx, cy, w, h)
    label: Tensor  # int64 label in 1..C


def _assign_cells(gt_boxes: Tensor, gt_labels: Tensor, S: int) -> _CellTargets:
    """Give each cell the object whose centre falls in it, the lowest valid gt index on a clash.

    YOLOv1 can express one object per cell, so later objects of a shared cell are ignored.
    ``scatter_reduce("amin")`` of the gt index picks the first one without a Python loop;
    cells without an object keep the sentinel ``G`` and are then clamped to a real index so
    the gathers stay in range (``has_object`` masks them out of every loss term).
    """
    batch, num_gt = gt_labels.shape
    valid = gt_labels > 0
    gt_cxcywh = box_convert(gt_boxes, "xyxy", "cxcywh")
    col = (gt_cxcywh[..., 0] * S).floor().long().clamp(0, S - 1)
    row = (gt_cxcywh[..., 1] * S).floor().long().clamp(0, S - 1)
    gt_index = torch.arange(num_gt, device=gt_labels.device).expand(batch, num_gt)
    owner = torch.full((batch, S * S), num_gt, dtype=torch.int64, device=gt_labels.device)
    owner.scatter_reduce_(1, row * S + col, torch.where(valid, gt_index, num_gt), reduce="amin")
    has_object = owner < num_gt
    owner = owner.clamp(max=num_gt - 1)
    return _CellTargets(
        has_object=has_object,
        box=torch.gather(gt_boxes, 1, owner[..., None].expand(-1, -1, 4)),
        cxcywh=torch.gather(gt_cxcywh, 1, owner[..., None].expand(-1, -1, 4)),
        label=torch.gather(gt_labels, 1, owner),
    )


def _responsible_predictors(
    predictors: Tensor, cells: _CellTargets, S: int
) -> tuple[Tensor, Tensor]:
    """Which of each cell's ``B`` predictors answers for its object, ``[N, S*S, B]`` bool.

    The one whose current box overlaps the object most (``argmax``: the first on ties), as
    in the paper. Also returns every predictor's IoU with its cell's object, computed
    without autograd: it only chooses predictors and serves as the (constant) rescore target.
    """
    with torch.no_grad():
        iou = _matched_iou(yolo_boxes_xyxy(predictors, S), cells.box[:, :, None, :])
    best = iou.argmax(dim=2, keepdim=True)  # [N, S*S, 1]
    responsible = torch.zeros_like(iou, dtype=torch.bool).scatter_(2, best, True)
    responsible &= cells.has_object[..., None]
    return responsible, iou


def _box_targets(cells: _CellTargets, S: int) -> Tensor:
    """Regression targets ``[N, S*S, 4]`` in the prediction layout of the module docstring.

    The centre as an offset inside its own cell (cell units) and the square roots of the
    size, so the loss compares like with like without transforming the raw predictions.
    """
    cell = torch.arange(S * S, device=cells.cxcywh.device)
    offset_x = cells.cxcywh[..., 0] * S - (cell % S)
    offset_y = cells.cxcywh[..., 1] * S - (cell // S)
    sqrt_size = cells.cxcywh[..., 2:].clamp(min=0).sqrt()
    return torch.cat((offset_x[..., None], offset_y[..., None], sqrt_size), dim=-1)


def _class_loss(class_scores: Tensor, cells: _CellTargets, C: int) -> Tensor:
    """Squared error of the class scores ``[N, S*S, C]`` against the one-hot label, summed.

    Only cells that own an object count: the scores are conditional probabilities
    Pr(class | object), which the paper regresses directly (no softmax).
    """
    one_hot = torch.nn.functional.one_hot((cells.label - 1).clamp(min=0), C)
    cls_error = (class_scores - one_hot.to(class_scores.dtype)).pow(2).sum(dim=-1)
    return torch.where(cells.has_object, cls_error, 0.0).sum()


def yolo_v1_loss(
    pred: Tensor,
    targets: list[dict[str, Tensor]],
    *,
    image_size: tuple[int, int] | None,
    S: int,
    B: int,
    C: int,
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
    rescore: bool = True,
) -> dict[str, Tensor]:
    """YOLOv1 sum-squared loss, divided by the batch size.

    Args:
        pred: ``[N, S, S, B*5 + C]`` head output (layout in the module docstring).
        targets: per image, ``boxes`` ``[G_i, 4]`` ``xyxy`` and ``labels`` ``[G_i]`` in 1..C.
        image_size: ``(height, width)`` the boxes are measured in; None if normalised.
        S, B, C: grid size, predictors per cell, classes.
        lambda_coord, lambda_noobj: the paper's weights (5 and 0.5).
        rescore: confidence target of the responsible predictor is its (detached) IoU with
            the object, as in the paper and darknet's ``rescore=1``; False uses 1.

    Assignment: the cell containing an object's centre is responsible for it; if several
    objects fall in one cell, the first listed one is kept and the others are ignored (one
    object per cell, as the model can express). Among the cell's ``B`` predictors, the one
    whose current box has the highest IoU with the object is responsible (the first on
    ties). Centres on the far image edge belong to the last row/column.

    Returns the weighted terms ``coord`` (lambda_coord * centre and sqrt-size errors),
    ``obj`` (confidence of responsible predictors), ``noobj`` (lambda_noobj * confidence of
    every other predictor), ``cls`` (class scores of cells with an object), and ``loss``,
    their sum.
    """
    batch = pred.shape[0]
    predictors, class_scores = split_yolo_output(pred, S, B, C)
    gt_boxes, gt_labels = pad_targets(targets, image_size, pred.device, pred.dtype)
    cells = _assign_cells(gt_boxes, gt_labels, S)
    responsible, iou = _responsible_predictors(predictors, cells, S)

    box_target = _box_targets(cells, S)
    coord_error = (predictors[..., :4] - box_target[:, :, None, :]).pow(2).sum(dim=-1)
    coord = lambda_coord * torch.where(responsible, coord_error, 0.0).sum()

    conf = predictors[..., 4]
    conf_target = iou if rescore else torch.ones_like(iou)
    obj = torch.where(responsible, (conf - conf_target).pow(2), 0.0).sum()
    noobj = lambda_noobj * torch.where(responsible, 0.0, conf.pow(2)).sum()

    cls = _class_loss(class_scores, cells, C)

    coord, obj, noobj, cls = coord / batch, obj / batch, noobj / batch, cls / batch
    return {
        "loss": coord + obj + noobj + cls,
        "coord": coord,
        "obj": obj,
        "noobj": noobj,
        "cls": cls,
    }
