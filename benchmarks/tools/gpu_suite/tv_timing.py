"""Part 6: torchvision's VGG16 and SSD300 timed like the specs, and graphspec / torchvision.

``python -m benchmarks.tools.gpu_suite.tv_timing --out DIR [--quick] [--budget-s S]``

Measures ``torchvision.models.vgg16`` and ``torchvision.models.detection.ssd300_vgg16``
(``weights=None``) in the three modes of part 5, on the batches of ``vgg16.yaml`` and
``ssd300-vgg16.yaml`` (:mod:`.tv_subjects`), and divides the graphspec numbers by them.
The graphspec side is read from part 5's ``DIR/spec_timing.jsonl`` (same call, same GPU,
same policy); ``--with-graphspec`` measures it here as well, for running this part alone.
Time ratios above 1 mean graphspec is slower, a throughput ratio above 1 that it is faster.
Exits 3 (skipped) without torchvision, or without CUDA unless ``--quick``.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any

import torch

from benchmarks.tools.gpu_suite import EXIT_SKIPPED, records
from benchmarks.tools.gpu_suite.deadline import Deadline
from benchmarks.tools.gpu_suite.measure import GPU_POLICY, QUICK_POLICY
from benchmarks.tools.gpu_suite.schedule import Plan, Recorder, error_text, run_plan
from benchmarks.tools.gpu_suite.spec_timing import SPECS
from benchmarks.tools.gpu_suite.subjects import Subject, spec_subject
from benchmarks.tools.gpu_suite.timing_table import joined, render
from benchmarks.tools.gpu_suite.tv_subjects import PAIRS, tv_subject
from graphspec import load_spec

RATIOS = (
    ("train_ms", "train gs/tv"),
    ("latency_ms", "latency gs/tv"),
    ("throughput_ips", "throughput gs/tv"),
    ("peak_train_mb", "peak train gs/tv"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--quick", action="store_true", help="CPU-sized dry run")
    parser.add_argument("--budget-s", type=float, default=90.0, help="stop starting units")
    parser.add_argument("--batch", type=int, help="training batch (default: the spec's)")
    parser.add_argument("--with-graphspec", action="store_true", help="time the specs too")
    return parser.parse_args(argv)


def with_ratios(rows: list[dict[str, Any]], graphspec: list[dict[str, Any]]) -> None:
    """Add graphspec / torchvision ratios to each torchvision row, from the graphspec row
    of the paired spec in the same mode (rows without a partner keep no ratio)."""
    by_key = {(row.get("subject"), row.get("mode")): row for row in joined(graphspec)}
    for row in rows:
        spec = PAIRS.get(str(row.get("subject", "")).removeprefix("tv "))
        partner = by_key.get((spec, row.get("mode")))
        for key, column in RATIOS:
            ours, theirs = (partner or {}).get(key), row.get(key)
            if isinstance(ours, float) and isinstance(theirs, float) and theirs > 0:
                row[column] = ours / theirs


def _render(records_: list[dict[str, Any]], out: Path, device_name: str) -> str:
    own = [r for r in records_ if str(r.get("subject", "")).startswith("tv ")]
    graphspec = [r for r in records_ if r not in own] or records.read(out / "spec_timing.jsonl")
    rows = joined(own)
    with_ratios(rows, graphspec)
    preface = (
        f"Device: {device_name}. torchvision models with weights=None on the batches of "
        "the specs they pair with (vgg16.yaml, ssd300-vgg16.yaml). Ratios are graphspec / "
        "torchvision in the same mode: times above 1 mean graphspec is slower, throughput "
        "above 1 that it is faster. SSD inference is backbone + head (no resize, no NMS)."
    )
    return render(rows, extra=[(column, column) for _, column in RATIOS], preface=preface)


def _maker(tv: Any, batch: int | None, device: torch.device) -> Any:
    """Subjects by plan name: ``tv:NAME`` is torchvision's model on its spec's batch, any
    other name a graphspec spec."""

    def make(name: str) -> Subject:
        model = name.removeprefix("tv:")
        spec = PAIRS.get(model, name) if name.startswith("tv:") else name
        paired = spec_subject(SPECS / f"{spec}.yaml", batch, device)
        if not name.startswith("tv:"):
            return paired
        return tv_subject(tv, model, paired, load_spec(SPECS / f"{spec}.yaml").classes)

    return make


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import torchvision as tv
    except Exception as error:  # a torchvision built for another torch fails variously
        print(f"skipped: no torchvision ({error_text(error)})")
        return EXIT_SKIPPED
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not args.quick:
        print("skipped: no CUDA (the timings need a GPU; --quick is the CPU dry run)")
        return EXIT_SKIPPED
    names = [f"tv:{name}" for name in PAIRS] + (list(PAIRS.values()) if args.with_graphspec else [])
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    recorder = Recorder(
        args.out / "tv_timing.jsonl",
        args.out / "tv_timing.md",
        "torchvision comparison (part 6)",
        partial(_render, out=args.out, device_name=device_name),
    )
    plan = Plan(
        names=names,
        make=_maker(tv, args.batch or (2 if args.quick else None), device),
        device=device,
        policy=QUICK_POLICY if args.quick else GPU_POLICY,
        backend="eager" if args.quick else "inductor",
        infer_batch=2 if args.quick else 32,
        eager_needs_s=0.0 if args.quick else 10.0,
        compile_needs_s=0.0 if args.quick else 40.0,
    )
    failures = run_plan(plan, recorder, Deadline(args.budget_s))
    print(f"torchvision timing: {failures} unit(s) failed; table in {recorder.fragment}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
