"""Part 3: graphspec's plain-torch box and RoI ops against ``torchvision.ops`` on CUDA.

``python -m benchmarks.tools.gpu_suite.crosscheck --out DIR [--quick]``

``box_iou``, ``nms`` and ``batched_nms`` (``compiler.detection.box_ops``) and ``roi_pool``
and ``roi_align`` (``compiler.ops.roi``) run on the same random inputs as torchvision's CUDA
kernels; each case prints its largest absolute difference (for NMS: how many kept indices
differ) and whether that is within the op's tolerance. Kept indices must be equal (the
scores have no ties); ``batched_nms`` is judged against torchvision's ``nms`` per class
merged by score, as its offset trick can flip borderline IoUs (the offset result is shown
beside it). RoI pooling must agree exactly forward, RoIAlign and the gradients to 1e-5
(atomics sum in another order). TF32 is off, as the ops' tests have it.

Without torchvision (``--reference auto``) or with ``--reference self`` the ops are compared
with themselves: a dry run of this code, not a check. ``--reference torchvision`` (the GPU
run) exits 3, skipped, when torchvision does not import. Without CUDA it runs on the CPU.
Exits 1 on a disagreement.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from benchmarks.tools.gpu_suite import EXIT_SKIPPED, records
from benchmarks.tools.gpu_suite.schedule import error_text
from compiler import ops

TOLERANCE = 1e-5


def _boxes(count: int, gen: torch.Generator, device: torch.device) -> tuple[Tensor, ...]:
    """``count`` xyxy boxes over a 500 px image, untied scores and 10 labels."""
    xy = torch.rand(count, 2, generator=gen) * 500
    boxes = torch.cat((xy, xy + torch.rand(count, 2, generator=gen) * 80 + 4), dim=1)
    scores = torch.randperm(count, generator=gen).float() / count
    labels = torch.randint(0, 10, (count,), generator=gen)
    return boxes.to(device), scores.to(device), labels.to(device)


def _kept_diff(ours: Tensor, theirs: Tensor) -> int:
    """Kept indices in one answer and not the other, or in another order."""
    if torch.equal(ours, theirs):
        return 0
    return max(len(set(ours.tolist()) ^ set(theirs.tolist())), 1)


def box_cases(ref: Any, count: int, device: torch.device) -> list[dict[str, Any]]:
    """box_iou's largest difference, and NMS / batched NMS kept-index differences."""
    boxes, scores, labels = _boxes(count, torch.Generator().manual_seed(0), device)
    iou = (ops.box_iou(boxes, boxes[:500]) - ref.box_iou(boxes, boxes[:500])).abs().max()
    rows = [{"op": "box_iou", "case": f"{count} x 500", "diff": float(iou)}]
    for threshold in (0.3, 0.5, 0.7):
        diff = _kept_diff(ops.nms(boxes, scores, threshold), ref.nms(boxes, scores, threshold))
        rows.append({"op": "nms", "case": f"iou {threshold}", "diff": diff})
        per_class = [
            members[ref.nms(boxes[members], scores[members], threshold)]
            for members in (torch.nonzero(labels == k).flatten() for k in range(10))
        ]
        merged = torch.cat(per_class)
        expected = merged[scores[merged].argsort(descending=True)]
        ours = ops.batched_nms(boxes, scores, labels, threshold)
        offset = _kept_diff(ours, ref.batched_nms(boxes, scores, labels, threshold))
        rows.append(
            {
                "op": "batched_nms",
                "case": f"iou {threshold} (vs batched_nms: {offset} differ)",
                "diff": _kept_diff(ours, expected),
            }
        )
    return rows


def _roi_case(device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Two 64-channel 19 x 25 maps and 60 boxes, some past the edges, some malformed, a
    third on 8 px multiples (exact halves at 1/16); the case of tests/gpu/test_gpu.py."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 64, 19, 25, generator=gen)
    corner = torch.rand(60, 2, generator=gen) * torch.tensor([480.0, 360.0]) - 40.0
    size = torch.rand(60, 2, generator=gen) * 320.0 - 24.0
    index = torch.randint(0, 2, (60, 1), generator=gen).float()
    boxes = torch.cat([index, corner, corner + size], 1)
    boxes[:20, 1:] = (boxes[:20, 1:] / 8).round() * 8
    grad = torch.randn(60, 64, 7, 7, generator=gen)
    return x.to(device), boxes.to(device), grad.to(device)


def _forward_backward(fn: Callable[..., Tensor], x: Tensor, grad: Tensor, *args: Any):
    leaf = x.clone().requires_grad_()
    out = fn(leaf, *args)
    (out * grad).sum().backward()
    return out.detach(), leaf.grad


def roi_cases(ref: Any, device: torch.device) -> list[dict[str, Any]]:
    """RoI max pooling and RoIAlign (four settings): forward and input-gradient diffs."""
    x, boxes, grad = _roi_case(device)
    cases: list[tuple[str, str, tuple[Any, ...]]] = [("roi_pool", "7x7, 1/16", (boxes, 7, 1 / 16))]
    cases += [
        ("roi_align", f"sampling {s}, aligned {a}", (boxes, 7, 1 / 16, s, a))
        for s, a in ((2, False), (0, True), (-1, False), (3, True))
    ]
    rows = []
    for op, case, args in cases:
        ours, our_grad = _forward_backward(getattr(ops, op), x, grad, *args)
        theirs, their_grad = _forward_backward(getattr(ref, op), x, grad, *args)
        forward = float((ours - theirs).abs().max())
        rows.append({"op": op, "case": f"{case}, forward", "diff": forward})
        rows.append(
            {"op": op, "case": f"{case}, grad", "diff": float((our_grad - their_grad).abs().max())}
        )
    return rows


def _judge(row: dict[str, Any]) -> dict[str, Any]:
    exact = (
        row["op"] in ("nms", "batched_nms")
        or row["case"].endswith("forward")
        and (row["op"] == "roi_pool")
    )
    return row | {"agrees": row["diff"] == 0 if exact else row["diff"] <= TOLERANCE}


def reference(kind: str) -> tuple[Any, str]:
    """torchvision.ops, or graphspec's own ops when ``kind`` is ``self`` or torchvision
    does not import under ``auto``; with the reference's description."""
    if kind != "self":
        try:
            from torchvision import ops as tv_ops

            return tv_ops, "torchvision.ops"
        except Exception as error:
            if kind == "torchvision":
                raise
            print(f"torchvision does not import ({error_text(error)}): comparing with itself")
    names = ("box_iou", "nms", "batched_nms", "roi_pool", "roi_align")
    return SimpleNamespace(**{n: getattr(ops, n) for n in names}), "itself (dry run, no check)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="300 boxes instead of 3000")
    parser.add_argument("--reference", choices=("auto", "torchvision", "self"), default="auto")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        ref, what = reference(args.reference)
    except Exception as error:  # --reference torchvision, and it does not import
        print(f"skipped: no torchvision ({error_text(error)})")
        return EXIT_SKIPPED
    rows = [_judge(r) for r in box_cases(ref, 300 if args.quick else 3000, device)]
    rows += [_judge(r) for r in roi_cases(ref, device)]
    for row in rows:
        diff, agrees = row["diff"], row["agrees"]
        print(f"{row['op']:12s} {row['case']:45s} max abs diff {diff:.3g}  agrees {agrees}")
    columns = [
        ("op", "op"),
        ("case", "case"),
        ("diff", "max abs diff / indices"),
        ("agrees", "agrees"),
    ]
    body = f"graphspec on {device.type} against {what}.\n\n" + records.table(rows, columns)
    records.write_fragment(args.out / "crosscheck.md", "torchvision cross-check (part 3)", body)
    bad = [f"{r['op']} {r['case']}" for r in rows if not r["agrees"]]
    print(
        f"cross-check against {what}: {len(rows) - len(bad)}/{len(rows)} agree"
        + (f"; disagree: {', '.join(bad)}" if bad else "")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
