"""Repeatability of the harness's timing: the demo's specs timed twice in one process.

Run ``python -m benchmarks.tools.timing_repeatability [--specs A.yaml B.yaml ...]``.

Protocol:

1. Compile every spec (``compiler.compile_graph`` + ``GraphNet``, seed 0) on the CPU. The
   weights stay untrained: a forward pass costs the same whatever their values.
2. Round 1: time each spec in turn with :func:`benchmarks.cost.measure.time_model`, the harness's
   timing phase (eval mode, garbage collected, threads pinned, warm-up until the per-call
   time is stable, then at least 20 runs and 1 s; latency at batch 1, throughput at
   ``--batch-size``).
3. Round 2: the same specs again, in the same order, after all of round 1, so the two
   timings of one spec are separated by the others' as the rows of a sweep are.
4. Print, per spec, the two latency medians and their ratio (second / first), the two
   throughputs and their ratio, and whether either timing was flagged noisy (and why).

Target: every ratio within 5% of 1 on a quiet machine (a 1-minute load average below the core
count, no other heavy process). A shared machine can miss it; the noisy flags then say so.
The exit status is 0 unless ``--strict`` is given and a ratio falls outside the tolerance.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from benchmarks.cost.measure import TimingRow, time_model
from compiler import build_network, compile_graph
from graphspec import SpecError, load_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"
DEMO_SPECS = [
    SPECS / f"{name}.yaml"
    for name in ("segnet-small", "unet-small", "fcn-small", "deconvnet-small", "ssd-small")
]


@dataclass(frozen=True)
class Repeat:
    """Two timings of one spec, taken a round apart."""

    name: str
    first: TimingRow
    second: TimingRow

    @property
    def latency_ratio(self) -> float:
        return self.second.latency_ms / self.first.latency_ms

    @property
    def throughput_ratio(self) -> float:
        return self.second.throughput_ips / self.first.throughput_ips

    def within(self, tolerance: float) -> bool:
        return all(abs(r - 1.0) <= tolerance for r in (self.latency_ratio, self.throughput_ratio))


def _model(path: Path) -> tuple[str, nn.Module, tuple[int, int, int]]:
    graph = compile_graph(load_spec(path))
    shape = graph["input"].shape
    return graph.name, build_network(graph), (shape[0], shape[1], shape[2])


def _time(net: nn.Module, shape: tuple[int, int, int], args: argparse.Namespace) -> TimingRow:
    cpu = torch.device("cpu")
    return time_model(
        net, net, shape, args.batch_size, cpu, amp=False, channels_last=False, threads=args.threads
    )


def run(args: argparse.Namespace) -> list[Repeat]:
    """Compile every spec, then time them all in two rounds (see the module docstring)."""
    torch.manual_seed(0)
    models = [_model(path) for path in args.specs]
    rounds = [[_time(net, shape, args) for _, net, shape in models] for _ in range(2)]
    return [
        Repeat(name, first, second)
        for (name, _, _), first, second in zip(models, *rounds, strict=True)
    ]


def _noise(repeat: Repeat) -> str:
    reasons = [
        f"{which}: {row.timing_noise_reason}"
        for which, row in (("1st", repeat.first), ("2nd", repeat.second))
        if row.timing_noisy
    ]
    return "; ".join(reasons) or "-"


def report(repeats: list[Repeat], tolerance: float) -> list[str]:
    """The printed table: one line per spec, then the target and how many specs met it."""
    first = repeats[0].first
    lines = [
        f"torch threads {first.threads}, {os.cpu_count()} cores, "
        f"1-min load average during the first timing {first.load_avg:.2f}",
        f"{'spec':<16} {'latency ms 1st':>14} {'2nd':>9} {'ratio':>6}  "
        f"{'img/s 1st':>10} {'2nd':>9} {'ratio':>6}  noisy",
    ]
    for r in repeats:
        lines.append(
            f"{r.name:<16} {r.first.latency_ms:>14.3f} {r.second.latency_ms:>9.3f} "
            f"{r.latency_ratio:>6.3f}  {r.first.throughput_ips:>10.1f} "
            f"{r.second.throughput_ips:>9.1f} {r.throughput_ratio:>6.3f}  {_noise(r)}"
        )
    met = sum(r.within(tolerance) for r in repeats)
    lines.append(
        f"target: every ratio within {1 - tolerance:.2f}..{1 + tolerance:.2f} on a quiet machine "
        f"(load average below the core count); {met} of {len(repeats)} specs within"
    )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", type=Path, default=DEMO_SPECS, help="spec files")
    parser.add_argument("--batch-size", type=int, default=16, help="throughput batch size")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: now)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="accepted |ratio - 1|")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a ratio is off")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.specs if not p.is_file()]
    if missing:
        parser.error(f"spec file not found: {', '.join(missing)}")
    if args.batch_size < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--batch-size and --threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        repeats = run(args)
    except SpecError as exc:
        print(f"timing_repeatability: {exc}", file=sys.stderr)
        return 2
    for line in report(repeats, args.tolerance):
        print(line)
    if all(r.within(args.tolerance) for r in repeats):
        return 0
    print("WARNING: outside tolerance" + (" (strict: failing)" if args.strict else ""))
    return 1 if args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
