"""Cross-check ``measure_latency`` against ``torch.utils.benchmark.Timer``.

Run ``python -m benchmarks.tools.timing_check``. It times the same small conv net with both and
prints the two medians and their ratio. With ``--strict`` it exits with status 1 when the
ratio falls outside ``[--low, --high]`` (default 0.95..1.05); without it the check only
reports, because a shared or throttled machine can legitimately disagree by a few percent.

Noise on a shared machine is reduced by a short untimed pre-warm (first oneDNN calls are slow)
and by alternating the two timers for several rounds and comparing the medians of the
per-round medians, so a burst of background load hits both rather than one.

Both get the same time budget (``--min-run-time``): ours as the policy's ``min_run_s`` after
its warm-up-until-stable phase, ``Timer`` as ``min_run_time``. Both run with the same thread
count: ``Timer`` defaults to ``num_threads=1``, which would make it look several times slower
than our harness on a multi-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn
from torch.utils import benchmark

from benchmarks.cost.timing import TimingPolicy, TimingStats, measure_latency


def build_small_convnet(channels: int = 16) -> nn.Module:
    """Four conv+ReLU layers with two stride-2 steps: a few ms per image at 128x128 on CPU."""
    return nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 3, padding=1, stride=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, 2 * channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, stride=2),
        nn.ReLU(inplace=True),
    )


def prewarm(model: nn.Module, example: torch.Tensor, seconds: float) -> None:
    """Call the model until ``seconds`` have passed so both timers start from a warm state."""
    deadline = time.perf_counter() + seconds
    with torch.inference_mode():
        model(example)
        while time.perf_counter() < deadline:
            model(example)


def torch_timer_median_ms(
    model: nn.Module,
    example: torch.Tensor,
    *,
    num_threads: int,
    min_run_time: float,
    adaptive: bool,
) -> float:
    """Median per-call time from ``torch.utils.benchmark.Timer`` under inference mode."""
    timer = benchmark.Timer(
        stmt="model(x)",
        globals={"model": model, "x": example},
        num_threads=num_threads,
        label="timing_check",
    )
    with torch.inference_mode():
        if adaptive:
            measurement = timer.adaptive_autorange(min_run_time=min_run_time)
        else:
            measurement = timer.blocked_autorange(min_run_time=min_run_time)
    return measurement.median * 1e3


def _warmup(stats: TimingStats) -> str:
    if stats.warmup is None:
        return "no warm-up"
    verdict = "stable" if stats.warmup.stable else "not stable at the cap"
    return f"warm-up {stats.warmup.iterations} blocks in {stats.warmup.seconds:.2f} s, {verdict}"


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="input height/width (default 128)")
    parser.add_argument("--channels", type=int, default=16, help="width of the test net")
    parser.add_argument(
        "--min-run-time", type=float, default=1.0, help="measured time of both timers, seconds"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both timers")
    parser.add_argument("--prewarm-s", type=float, default=0.5, help="untimed warm-up, seconds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--adaptive", action="store_true", help="use Timer.adaptive_autorange")
    parser.add_argument("--strict", action="store_true", help="exit 1 if the ratio is off")
    parser.add_argument("--low", type=float, default=0.95, help="lowest accepted ratio")
    parser.add_argument("--high", type=float, default=1.05, help="highest accepted ratio")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    num_threads = torch.get_num_threads()
    torch.manual_seed(0)
    model = build_small_convnet(args.channels).eval()
    example = torch.randn(1, 3, args.size, args.size)

    policy = TimingPolicy(min_run_s=args.min_run_time)
    prewarm(model, example, args.prewarm_s)
    ours_ms: list[float] = []
    reference_ms_rounds: list[float] = []
    for _ in range(max(args.rounds, 1)):
        ours = measure_latency(model, example, policy=policy, device="cpu")
        ours_ms.append(ours.median_ms)
        reference_ms_rounds.append(
            torch_timer_median_ms(
                model,
                example,
                num_threads=num_threads,
                min_run_time=args.min_run_time,
                adaptive=args.adaptive,
            )
        )
        # Timer sets the thread count for its own run; put ours back for the next round.
        torch.set_num_threads(num_threads)
    ours_median_ms = statistics.median(ours_ms)
    reference_ms = statistics.median(reference_ms_rounds)
    ratio = ours_median_ms / reference_ms

    method = "adaptive_autorange" if args.adaptive else "blocked_autorange"
    rounds = len(ours_ms)
    print(f"input 1x3x{args.size}x{args.size}, torch threads {num_threads}, {rounds} rounds")
    print(
        f"measure_latency : median {ours_median_ms:.3f} ms  "
        f"(last round: IQR {ours.iqr_ms:.3f} ms, p90 {ours.p90_ms:.3f} ms, "
        f"{ours.runs} runs x {ours.inner_repeats} calls, {_warmup(ours)}; "
        f"rounds {_fmt(ours_ms)})"
    )
    print(f"Timer.{method}: median {reference_ms:.3f} ms  (rounds {_fmt(reference_ms_rounds)})")
    print(f"ratio measure_latency / Timer = {ratio:.3f}  (accepted {args.low}..{args.high})")
    within = args.low <= ratio <= args.high
    if within:
        print("OK: within tolerance")
        return 0
    print("WARNING: outside tolerance" + (" (strict: failing)" if args.strict else ""))
    return 1 if args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
