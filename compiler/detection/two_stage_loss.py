"""Fast R-CNN's multi-task box-head loss (Girshick 2015, section 2.3, equation 1).

``L = cross-entropy(p, u) + box_weight * [u >= 1] * smooth_l1(t^u - v)``: the class loss
over every sampled RoI, the box loss only on foreground RoIs and only on the deltas of their
ground-truth class. Both are normalised by the number of RoIs ``R`` (as torchvision's
``fastrcnn_loss`` and py-faster-rcnn's ``bbox_loss_weights`` do), so the box term does not
grow when a batch happens to hold more foreground.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _class_deltas(box_deltas: Tensor, labels: Tensor) -> Tensor:
    """Each row's deltas for its label: ``[R, 4]`` from per-class or class-agnostic deltas.

    Per-class deltas are ``[R, 4 * (K + 1)]`` with class ``k`` at columns ``4k .. 4k + 3``;
    ``[R, 4]`` is class-agnostic (one box per RoI) and is returned as is.
    """
    if box_deltas.shape[-1] == 4:
        return box_deltas
    per_class = box_deltas.reshape(box_deltas.shape[0], -1, 4)
    return per_class.gather(1, labels[:, None, None].expand(-1, 1, 4))[:, 0]


def box_head_loss(
    class_logits: Tensor,
    box_deltas: Tensor,
    labels: Tensor,
    targets: Tensor,
    *,
    box_weight: float = 1.0,
    beta: float = 1.0,
) -> dict[str, Tensor]:
    """``{"box_class", "box_regression"}`` for ``R`` sampled RoIs.

    ``class_logits [R, K + 1]`` (0 = background), ``box_deltas [R, 4 * (K + 1)]`` or
    ``[R, 4]``, ``labels [R]`` int64 and ``targets [R, 4]`` (``SampledRoIs``). Class loss:
    cross-entropy averaged over ``R``. Box loss: ``smooth_l1(beta)`` summed over foreground
    rows on the ground-truth class's deltas, divided by ``R``, times ``box_weight``
    (``beta = 1`` is Fast R-CNN's sigma 1). ``R == 0`` -> zeros that keep a ``grad_fn``.
    """
    num_rois = class_logits.shape[0]
    if num_rois == 0:
        zero = class_logits.sum() * 0.0 + box_deltas.sum() * 0.0
        return {"box_class": zero, "box_regression": zero.clone()}
    labels = labels.to(device=class_logits.device, dtype=torch.int64)
    box_class = F.cross_entropy(class_logits, labels)
    foreground = labels > 0
    predicted = _class_deltas(box_deltas, labels)[foreground]
    wanted = targets.to(device=box_deltas.device, dtype=box_deltas.dtype)[foreground]
    box_sum = F.smooth_l1_loss(predicted, wanted, beta=beta, reduction="sum")
    return {"box_class": box_class, "box_regression": box_weight * box_sum / num_rois}
