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

import torch
from torch import Tensor

from compiler.box_coding import pad_targets
from compiler.box_ops import box_convert


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
    num_gt = gt_labels.shape[1]
    valid = gt_labels > 0

    # Cell of each object's centre, and one owner per cell: the lowest valid gt index.
    gt_cxcywh = box_convert(gt_boxes, "xyxy", "cxcywh")
    col = (gt_cxcywh[..., 0] * S).floor().long().clamp(0, S - 1)
    row = (gt_cxcywh[..., 1] * S).floor().long().clamp(0, S - 1)
    gt_index = torch.arange(num_gt, device=pred.device).expand(batch, num_gt)
    owner = torch.full((batch, S * S), num_gt, dtype=torch.int64, device=pred.device)
    owner.scatter_reduce_(1, row * S + col, torch.where(valid, gt_index, num_gt), reduce="amin")
    has_object = owner < num_gt  # [N, S*S]
    owner = owner.clamp(max=num_gt - 1)
    cell_box = torch.gather(gt_boxes, 1, owner[..., None].expand(-1, -1, 4))  # [N, S*S, 4]
    cell_cxcywh = torch.gather(gt_cxcywh, 1, owner[..., None].expand(-1, -1, 4))
    cell_label = torch.gather(gt_labels, 1, owner)

    # Responsible predictor: highest IoU with the cell's object (argmax: first on ties).
    with torch.no_grad():
        iou = _matched_iou(yolo_boxes_xyxy(predictors, S), cell_box[:, :, None, :])
    best = iou.argmax(dim=2, keepdim=True)  # [N, S*S, 1]
    responsible = torch.zeros_like(iou, dtype=torch.bool).scatter_(2, best, True)
    responsible &= has_object[..., None]  # [N, S*S, B]

    cell = torch.arange(S * S, device=pred.device)
    offset_x = cell_cxcywh[..., 0] * S - (cell % S)
    offset_y = cell_cxcywh[..., 1] * S - (cell // S)
    sqrt_size = cell_cxcywh[..., 2:].clamp(min=0).sqrt()
    box_target = torch.cat((offset_x[..., None], offset_y[..., None], sqrt_size), dim=-1)
    coord_error = (predictors[..., :4] - box_target[:, :, None, :]).pow(2).sum(dim=-1)
    coord = lambda_coord * torch.where(responsible, coord_error, 0.0).sum()

    conf = predictors[..., 4]
    conf_target = iou if rescore else torch.ones_like(iou)
    obj = torch.where(responsible, (conf - conf_target).pow(2), 0.0).sum()
    noobj = lambda_noobj * torch.where(responsible, 0.0, conf.pow(2)).sum()

    one_hot = torch.nn.functional.one_hot((cell_label - 1).clamp(min=0), C).to(pred.dtype)
    cls_error = (class_scores - one_hot).pow(2).sum(dim=-1)
    cls = torch.where(has_object, cls_error, 0.0).sum()

    coord, obj, noobj, cls = coord / batch, obj / batch, noobj / batch, cls / batch
    return {
        "loss": coord + obj + noobj + cls,
        "coord": coord,
        "obj": obj,
        "noobj": noobj,
        "cls": cls,
    }
