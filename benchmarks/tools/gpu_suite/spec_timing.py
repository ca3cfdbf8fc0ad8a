"""Part 5: every demo and reference spec timed on the GPU in three modes.

``python -m benchmarks.tools.gpu_suite.spec_timing --out DIR [--quick] [--budget-s S]``

For each spec at its own input size: the training step (median of >= 20 synchronised steps
after warm-up) in fp32 eager, bf16 autocast + channels_last, and the same compiled; latency
at batch 1 and throughput at batch 32 in the two eager modes; the peak CUDA memory of each.
``vgg16`` is timed too (not a demo spec) because part 6 divides by it. Results go to
``DIR/spec_timing.jsonl`` and the table ``DIR/spec_timing.md`` as they come.

``--quick`` is the CPU dry run: two small specs at batch 2 with a few samples each, and
``torch.compile`` with the ``eager`` backend (Dynamo traces; no code is generated), so every
code path runs in seconds. Without CUDA and without ``--quick`` it exits 3 (skipped).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any

import torch

from benchmarks.tools.gpu_suite import EXIT_SKIPPED
from benchmarks.tools.gpu_suite.deadline import Deadline
from benchmarks.tools.gpu_suite.measure import GPU_POLICY, QUICK_POLICY
from benchmarks.tools.gpu_suite.schedule import Plan, Recorder, run_plan
from benchmarks.tools.gpu_suite.subjects import SPEC_BATCHES, spec_subject
from benchmarks.tools.gpu_suite.timing_table import render

SPECS = Path(__file__).resolve().parents[3] / "specs"
DEFAULT_SPECS = tuple(SPEC_BATCHES)
QUICK_SPECS = ("unet-small", "ssd-small")
COMPILE_FIRST = ("ssd300-vgg16", "vgg16", "unet-small", "ssd-small")
"""Compiled first: part 6's ratios need the first two, ``graphspec bench`` runs the others;
the budget rarely reaches every spec's compile (tens of seconds each)."""
QUICK_BATCH = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--quick", action="store_true", help="CPU-sized dry run")
    parser.add_argument("--budget-s", type=float, default=240.0, help="stop starting units")
    parser.add_argument("--specs", nargs="+", help="spec names under specs/ (default: all)")
    parser.add_argument("--batch", type=int, help="training batch for every spec")
    parser.add_argument("--infer-batch", type=int, help="throughput batch (default 32)")
    parser.add_argument("--backend", help="torch.compile backend (default inductor)")
    parser.add_argument("--compile-needs-s", type=float, default=40.0)
    return parser.parse_args(argv)


def _preface(device: torch.device, args: argparse.Namespace) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    what = "CPU dry run (--quick): numbers only show the code ran" if args.quick else name
    return (
        f"Device: {what}; torch {torch.__version__}. Training step: zero_grad, forward + "
        "task loss, backward, AdamW; median of the timed steps after warm-up. Inference "
        "in the eager modes only (eval mode, the harness's timing phase). Peak memory: "
        "torch.cuda.max_memory_allocated over one call (CPU: process RSS)."
    )


def plan_for(args: argparse.Namespace, device: torch.device) -> Plan:
    """The plan the arguments ask for (quick: small specs, batch 2, eager compile)."""
    names = args.specs or (QUICK_SPECS if args.quick else DEFAULT_SPECS)
    batch = args.batch or (QUICK_BATCH if args.quick else None)

    def make(name: str) -> Any:
        return spec_subject(SPECS / f"{name}.yaml", batch, device)

    return Plan(
        names=names,
        make=make,
        device=device,
        policy=QUICK_POLICY if args.quick else GPU_POLICY,
        backend=args.backend or ("eager" if args.quick else "inductor"),
        infer_batch=args.infer_batch or (QUICK_BATCH if args.quick else 32),
        eager_needs_s=0.0 if args.quick else 10.0,
        compile_needs_s=0.0 if args.quick else args.compile_needs_s,
        compile_first=COMPILE_FIRST,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not args.quick:
        print("skipped: no CUDA (the timings need a GPU; --quick is the CPU dry run)")
        return EXIT_SKIPPED
    recorder = Recorder(
        args.out / "spec_timing.jsonl",
        args.out / "spec_timing.md",
        "Spec timings (part 5)",
        partial(render, preface=_preface(device, args)),
    )
    failures = run_plan(plan_for(args, device), recorder, Deadline(args.budget_s))
    print(f"spec timing: {failures} unit(s) failed; table in {recorder.fragment}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
