"""How fast a spec compiles: ``python -m benchmarks.tools.compile_speed``.

Not a test (timings depend on the machine and its load, so no test asserts on them): it
prints the median of several repeats, with a per-stage breakdown, for two generated specs:

* a 100-layer segmentation spec, from YAML text to an ``nn.Module`` (target <= 50 ms on a
  2-core machine);
* a 10,000-layer spec (the ``MAX_LAYERS`` cap) through what ``graphspec check`` does:
  load, validate, build, passes and budget (target < 3 s), in process and as the CLI in
  a fresh interpreter (imports included).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from compiler import compile_graph
from compiler.emit import build_network
from graphspec import Graph, build_graph
from graphspec.gc_pause import paused_gc
from graphspec.loader import validate_spec
from graphspec.runnable import check_bench_classes
from graphspec.source import read_yaml

_BLOCK = (
    "      - {op: conv, out: 32, kernel: 3, padding: 1, bias: false}\n"
    "      - {op: batchnorm}\n"
    "      - {op: relu}\n"
)


def generated_spec(layers: int, *, stages: int = 4) -> str:
    """A segmentation spec of exactly ``layers`` encoder layers written out (no ``repeat``,
    so the YAML grows with the network): ``stages`` stages of conv-bn-relu blocks, each
    ending in a 2x2 max-pool, mirrored by an unpool decoder with concat skips."""
    per_stage = [layers // stages + (i < layers % stages) for i in range(stages)]
    lines = [
        "name: generated",
        "task: segmentation",
        "input: {channels: 3, height: 64, width: 64}",
        "classes: 4",
        "encoder:",
    ]
    for i, count in enumerate(per_stage):
        body = count - 1
        block_lines = _BLOCK * (body // 3) + "".join(_BLOCK.splitlines(True)[: body % 3])
        lines.append(
            f"  - stage: s{i}\n    layers:\n{block_lines}      - {{op: maxpool, kernel: 2}}"
        )
    lines.append("decoder: {mirror: true, upsample: unpool, skips: concat}")
    lines.append("head: {type: segmentation}")
    return "\n".join(lines) + "\n"


@dataclass
class Stages:
    """Seconds per stage of one compile, appended to per repeat."""

    times: dict[str, list[float]] = field(default_factory=dict)

    def timed(self, stage: str, fn: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = fn()
        self.times.setdefault(stage, []).append(time.perf_counter() - start)
        return result

    def report(self, title: str) -> str:
        totals = [sum(parts) for parts in zip(*self.times.values(), strict=True)]
        lines = [f"{title}: median {statistics.median(totals) * 1e3:.1f} ms total"]
        for stage, values in self.times.items():
            lines.append(f"  {stage:<9} {statistics.median(values) * 1e3:8.1f} ms")
        return "\n".join(lines)


def _compile(text: str, stages: Stages) -> Graph:
    """Parse, validate, then ``compile_graph`` (build + passes + checks), each timed; the
    build alone is timed once more, as ``compile_graph`` runs it, and subtracted."""
    data, smap = stages.timed("parse", lambda: read_yaml(text, "<generated>"))
    spec = stages.timed("validate", lambda: validate_spec(data, smap))
    check_bench_classes(spec)
    with paused_gc():
        stages.timed("build", lambda: build_graph(spec))
    graph = stages.timed("passes", lambda: compile_graph(spec))
    stages.times["passes"][-1] -= stages.times["build"][-1]
    return graph  # type: ignore[return-value]


def to_module(text: str, stages: Stages) -> torch.nn.Module:
    """YAML text -> module (what ``compile_spec`` does, split up)."""
    graph = _compile(text, stages)
    return stages.timed("module", lambda: build_network(graph))  # type: ignore[return-value]


def cli_check_seconds(text: str) -> float:
    """Wall time of ``graphspec check FILE`` in a fresh interpreter (imports included)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "generated.yaml")
        path.write_text(text)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "graphspec.cli", "check", str(path)],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (median)")
    parser.add_argument("--big-repeats", type=int, default=3, help="repeats of the 10k spec")
    parser.add_argument("--profile", action="store_true", help="cProfile one 100-layer run")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(
        f"protocol: median of {args.repeats} (100 layers) / {args.big_repeats} (10,000 layers) "
        f"repeats after one warm-up, wall clock (perf_counter), torch threads 1; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}, torch {torch.__version__}; "
        "other processes may load the machine"
    )
    small, big = generated_spec(100), generated_spec(10_000)
    to_module(small, Stages())  # warm-up: imports, caches
    if args.profile:
        import cProfile
        import pstats

        with cProfile.Profile() as prof:
            to_module(small, Stages())
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    stages = Stages()
    for _ in range(args.repeats):
        to_module(small, stages)
    print(stages.report("100-layer spec, YAML text -> nn.Module (target <= 50 ms)"))
    stages = Stages()
    for _ in range(args.big_repeats):
        _compile(big, stages)
    print(stages.report(f"10,000-layer spec ({len(big):,} bytes), check (target < 3000 ms)"))
    cli = statistics.median(cli_check_seconds(big) for _ in range(args.big_repeats))
    print(f"  graphspec check in a fresh process, imports included: {cli * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
