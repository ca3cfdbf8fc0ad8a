"""Part 7: the summing unpool (``compiler.ops.max_unpool2d``) against ``F.max_unpool2d``.

``python -m benchmarks.tools.gpu_suite.unpool --out DIR [--quick]``

graphspec's decoders unpool with ``scatter_add``, which *sums* values routed to one place
where pooling windows overlap (``F.max_unpool2d`` keeps one of them). On CUDA a
``scatter_add`` is made of atomic adds, so the questions before it is trusted there are:
how its time compares (forward, and forward + backward), whether two runs give the same
bits (by default and under ``torch.use_deterministic_algorithms(True)``, where an op
without a deterministic kernel raises), and whether a channels_last input comes out
channels_last. Two windows: 2x2 stride 2 (SegNet's, no overlap: both must agree exactly)
and 3x3 stride 2 padding 1 (overlapping: up to four values land on one input pixel).
Runs on the CPU as well, with the same questions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.cost.timing import time_callable
from benchmarks.tools.gpu_suite import records
from benchmarks.tools.gpu_suite.measure import GPU_POLICY, QUICK_POLICY
from benchmarks.tools.gpu_suite.schedule import error_text
from compiler import ops

WINDOWS = {"2x2/2": (2, 2, 0), "3x3/2 pad 1": (3, 2, 1)}
REPEATS = 5
"""Runs compared bit for bit: atomics that reorder sums show up in some runs, not all."""

Unpool = Callable[[Tensor, Tensor, tuple[int, int], tuple[int, int, int]], Tensor]


def ours(pooled: Tensor, indices: Tensor, size: tuple[int, int], window: Any) -> Tensor:
    return ops.max_unpool2d(pooled, indices, size)


def torch_unpool(pooled: Tensor, indices: Tensor, size: tuple[int, int], window: Any) -> Tensor:
    kernel, stride, padding = window
    return F.max_unpool2d(pooled, indices, kernel, stride, padding, output_size=size)


IMPLEMENTATIONS: dict[str, Unpool] = {"graphspec (sum)": ours, "F.max_unpool2d": torch_unpool}


def _bits(t: Tensor) -> Tensor:
    return t.contiguous().view(torch.int32)


def _deterministic(fn: Callable[[], Tensor], strict: bool) -> str:
    """'yes' when REPEATS runs give the same bits, 'no' when not, or the error raised
    (``strict``: under ``torch.use_deterministic_algorithms(True)``)."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(strict)
    try:
        first = _bits(fn())
        same = all(torch.equal(first, _bits(fn())) for _ in range(REPEATS - 1))
        return "yes" if same else "no"
    except RuntimeError as error:  # the message's first clause names the kernel
        return "raises: " + error_text(error).split(", but")[0]
    finally:
        torch.use_deterministic_algorithms(previous)


def check(name: str, window: tuple[int, int, int], x: Tensor, quick: bool) -> list[dict]:
    """One row per implementation for one pooling window on ``x``."""
    kernel, stride, padding = window
    size = (x.shape[2], x.shape[3])
    pooled, indices = F.max_pool2d(x, kernel, stride, padding, return_indices=True)
    grad = torch.randn_like(x)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    pooled_cl, indices_cl = F.max_pool2d(x_cl, kernel, stride, padding, return_indices=True)
    policy = QUICK_POLICY if quick else GPU_POLICY
    outputs, rows = {}, []
    for impl, unpool in IMPLEMENTATIONS.items():
        forward = lambda u=unpool: u(pooled, indices, size, window)  # noqa: E731

        def both(u: Unpool = unpool) -> None:
            leaf = pooled.detach().requires_grad_()
            u(leaf, indices, size, window).backward(grad)

        outputs[impl] = forward()
        out_cl = unpool(pooled_cl, indices_cl, size, window)
        rows.append(
            {
                "window": name,
                "implementation": impl,
                "forward_ms": time_callable(forward, policy=policy, device=x.device).median_ms,
                "fwd_bwd_ms": time_callable(both, policy=policy, device=x.device).median_ms,
                "deterministic": _deterministic(forward, strict=False),
                "under_strict": _deterministic(forward, strict=True),
                "cl_in": pooled_cl.is_contiguous(memory_format=torch.channels_last),
                "cl_out": out_cl.is_contiguous(memory_format=torch.channels_last),
                "cl_same": torch.equal(out_cl, outputs[impl]),
            }
        )
    rows[0]["ratio"] = rows[0]["forward_ms"] / rows[1]["forward_ms"]
    rows[0]["ratio_fb"] = rows[0]["fwd_bwd_ms"] / rows[1]["fwd_bwd_ms"]
    rows[0]["agree"] = torch.equal(*outputs.values())
    return rows


COLUMNS = [
    ("window", "window"),
    ("implementation", "unpool"),
    ("forward_ms", "forward ms"),
    ("fwd_bwd_ms", "fwd+bwd ms"),
    ("ratio", "forward ours / F"),
    ("ratio_fb", "fwd+bwd ours / F"),
    ("agree", "same values as F"),
    ("deterministic", "bit-equal x5"),
    ("under_strict", "bit-equal, deterministic algorithms"),
    ("cl_in", "pool out channels_last"),
    ("cl_out", "unpool keeps channels_last"),
    ("cl_same", "channels_last same values"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="a 2 x 8 x 32 x 32 input")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    shape = (2, 8, 32, 32) if args.quick else (16, 64, 128, 128)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device)
    rows = [row for name, window in WINDOWS.items() for row in check(name, window, x, args.quick)]
    for row in rows:
        print({k: records.cell(v) for k, v in row.items()})
    body = (
        f"Input {tuple(shape)} fp32 on {device.type}; median times. With 2x2/2 windows no "
        "two values share a place, so the sum and F.max_unpool2d must agree; with 3x3/2 "
        "they differ by design (sum against one value).\n\n" + records.table(rows, COLUMNS)
    )
    records.write_fragment(args.out / "unpool.md", "Summing unpool (part 7)", body)
    wrong = not rows[0]["agree"] or not all(row["cl_same"] for row in rows)
    print("unpool: " + ("values wrong" if wrong else "values right") + f" on {device.type}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
