"""Compiled networks against hand-written PyTorch: ``python -m benchmarks.tools.vs_handwritten``.

Protocol (one process, CPU, ``torch.set_num_threads(1)`` so the two sides never compete
for cores and the result does not depend on how busy the other core is):

1. For each spec (``--specs``, default unet-small, segnet-small, fcn-small): compile it
   (seed 0) and load its ``state_dict`` into the hand-written twin of
   :mod:`benchmarks.tools.handwritten`, so both start from the same weights.
2. Each line times A (the compiled GraphNet) against B (the hand-written module) with
   :func:`~benchmarks.tools.interleaved.interleaved_ratios`: two untimed warm-up calls
   each, then ``--repeats`` samples, each a garbage collection, one untimed call of
   each, and the windows A, B, B, A back to back (each window enough calls to last
   ``min_seconds``, the collector paused), the sample being the A windows' time over
   the B windows'. Time is this thread's CPU time (``--wall``: wall-clock time): with one
   thread every op, backward included, runs on it, and the time it spent waiting for a
   core is left out. A line
   prints the median ratio and its noise, half the interquartile range of the samples.
3. The cases: a training step at batch 16 (``zero_grad``, forward, cross-entropy,
   backward, SGD with momentum step), inference at batch 1 and 16 (eval mode,
   ``torch.inference_mode``), and the peak CPU tensor memory of one training step
   (:func:`~benchmarks.tools.interleaved.peak_bytes`: allocations recorded by
   ``torch.profiler``; deterministic, measured once, after a warm-up step). Then the
   source :func:`compiler.emit.generate_source` writes (exec'd, same weights) against
   GraphNet, and the unpool module a network runs for a 2x2 stride-2 pool (the summing
   ``compiler.ops.max_unpool2d``; for channels_last, where windows do not overlap,
   ``F.max_unpool2d``'s own kernel: ``compiler.ops.MaxUnpool``) against
   ``F.max_unpool2d`` on 16x64x32x32 values and 2x2 pool indices, contiguous and
   channels_last.
4. Two A/A lines time the first spec's hand-written module against a copy of itself, a
   training step and inference at batch 16: the larger of their distances from 1 plus
   their own noise is the noise floor (it catches what the per-line spread misses: a
   ratio that moves from one run of the tool to the next).

Targets: training, inference and peak memory at most 1.00x; the summing unpool at most
1.2x ``F.max_unpool2d``; the generated source ~ GraphNet (1.00 either way). A ratio
misses its target only when it lies beyond it by more than max(its own noise, the A/A
floor); ``--strict`` then exits 1. ``--quick`` takes 2 short samples after 1 warm-up
call (a smoke run, not a measurement).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from argparse import Namespace
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.tools.handwritten import HANDWRITTEN, load_compiled
from benchmarks.tools.interleaved import Ratio, interleaved_ratios, peak_bytes
from compiler import compile_spec
from compiler.emit import generate_source, module_call
from compiler.emit.codegen import class_name_for
from graphspec.ops import MaxUnpool as MaxUnpoolOp

SPECS = Path(__file__).resolve().parents[2] / "specs"
TRAIN_BATCH = 16
UNPOOL_SHAPE = (16, 64, 32, 32)
UNPOOL_TARGET = 1.2
UNPOOL_LAYOUTS = (torch.contiguous_format, torch.channels_last)


def parse_args(argv: Sequence[str] | None) -> Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tools.vs_handwritten",
        description="Time compiled networks against hand-written PyTorch (see the module doc).",
    )
    parser.add_argument("--specs", nargs="+", choices=sorted(HANDWRITTEN), default=None)
    parser.add_argument("--repeats", type=int, default=15, help="samples a line (15)")
    parser.add_argument("--quick", action="store_true", help="2 short samples: a smoke run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--wall", action="store_true", help="wall-clock time, not thread CPU")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.specs = args.specs or list(HANDWRITTEN)
    args.min_seconds = 0.1
    args.clock = time.perf_counter if args.wall else time.thread_time
    args.warmup = 2
    if args.quick:
        args.repeats, args.min_seconds, args.warmup = min(args.repeats, 2), 0.005, 1
    return args


def train_step(model: nn.Module, images: Tensor, labels: Tensor) -> Callable[[], None]:
    """One optimizer update of ``model`` on the fixed batch, as a closure."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()

    return step


def inference(model: nn.Module, images: Tensor) -> Callable[[], object]:
    """One forward pass in eval mode under ``torch.inference_mode``, as a closure."""

    def run() -> object:
        model.eval()
        with torch.inference_mode():
            return model(images)

    return run


def generated_module(net: nn.Module) -> nn.Module:
    """The class :func:`generate_source` writes for ``net``'s graph, exec'd and loaded
    with ``net``'s weights."""
    graph = net.graph  # type: ignore[attr-defined]
    namespace: dict[str, object] = {}
    exec(compile(generate_source(graph), f"<generated {graph.name}>", "exec"), namespace)
    module = namespace[class_name_for(graph.name)]()  # type: ignore[operator]
    module.load_state_dict(net.state_dict())
    return module


def _batch(size: int) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(size)
    images = torch.randn(size, 3, 64, 64, generator=gen)
    return images, torch.randint(0, 4, (size, 64, 64), generator=gen)


def timed(
    label: str,
    a: Callable[[], object],
    b: Callable[[], object],
    args: Namespace,
    high: float = 1.0,
    low: float | None = None,
) -> Ratio:
    """One timed line: the interleaved ratios of A over B, judged against ``low..high``."""
    values = interleaved_ratios(a, b, args.repeats, args.min_seconds, args.warmup, args.clock)
    return Ratio(label, tuple(values), high, low)


def spec_ratios(name: str, args: Namespace) -> Iterator[Ratio]:
    """Every line of one spec, as it is measured: GraphNet over hand-written (training,
    inference, training memory), then GraphNet over its generated source."""
    torch.manual_seed(0)
    net = compile_spec(SPECS / f"{name}.yaml")
    hand = load_compiled(HANDWRITTEN[name](), net.state_dict())
    gen = generated_module(net)
    images, labels = _batch(TRAIN_BATCH)
    one = images[:1].clone()
    for other, tag in ((hand, "hand"), (gen, "generated")):
        low = None if other is hand else 1.0  # the generated source: ~1 either way
        train_a, train_b = train_step(net, images, labels), train_step(other, images, labels)
        yield timed(f"{name} train b16 / {tag}", train_a, train_b, args, 1.0, low)
        for batch in (one, images):
            infer_a, infer_b = inference(net, batch), inference(other, batch)
            label = f"{name} infer b{len(batch)} / {tag}"
            yield timed(label, infer_a, infer_b, args, 1.0, low)
        if other is hand:
            yield memory_ratio(f"{name} train-memory / hand", net, hand, images, labels)


def memory_ratio(label: str, a: nn.Module, b: nn.Module, images: Tensor, labels: Tensor) -> Ratio:
    """Peak training-step memory of A over B, each after one warm-up step (so the
    optimizer state exists and both measure a steady step)."""
    peaks = []
    for model in (a, b):
        step = train_step(model, images, labels)
        step()
        peaks.append(peak_bytes(step))
    return Ratio(label, (peaks[0] / peaks[1],), 1.0)


def unpool_ratio(layout: torch.memory_format, args: Namespace) -> Ratio:
    """The unpool module a network runs for a 2x2 stride-2 pool (built by the emitter from
    the IR op: the summing scatter in NCHW, ``F.max_unpool2d`` for channels_last, as the
    windows do not overlap) over ``F.max_unpool2d`` on ``UNPOOL_SHAPE`` values (no
    overlap: both must give the same tensor)."""
    n, c, h, w = UNPOOL_SHAPE
    gen = torch.Generator().manual_seed(0)
    source = torch.randn(n, c, 2 * h, 2 * w, generator=gen).contiguous(memory_format=layout)
    values, indices = F.max_pool2d(source, 2, 2, return_indices=True)
    size = (2 * h, 2 * w)
    op = MaxUnpoolOp(pool="pool", kernel=(2, 2), stride=(2, 2), size=size)
    unpool = module_call(op, [(c, h, w)], (c, *size)).build()

    def ours() -> Tensor:
        return unpool(values, indices)

    def theirs() -> Tensor:
        return F.max_unpool2d(values, indices, 2, 2, output_size=size)

    torch.testing.assert_close(ours(), theirs(), rtol=0, atol=0)
    tag = "nchw" if layout is torch.contiguous_format else "channels_last"
    return timed(f"unpool {tag} / F.max_unpool2d", ours, theirs, args, UNPOOL_TARGET)


def aa_ratios(name: str, args: Namespace) -> list[Ratio]:
    """The hand-written module against a copy of itself, training and inference at batch
    16: what "equal" measures as in this process, on this machine, now."""
    hand = HANDWRITTEN[name]()
    twin = copy.deepcopy(hand)
    images, labels = _batch(TRAIN_BATCH)
    train_a, train_b = train_step(hand, images, labels), train_step(twin, images, labels)
    infer_a, infer_b = inference(hand, images), inference(twin, images)
    return [
        timed(f"A/A {name} train b16 / itself", train_a, train_b, args, 1.0, 1.0),
        timed(f"A/A {name} infer b16 / itself", infer_a, infer_b, args, 1.0, 1.0),
    ]


def row(line: Ratio, verdict: str) -> str:
    return f"{line.label:<40} {line.median:7.3f} {line.noise:7.3f} {line.target():>8}  {verdict}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    clock = "wall-clock" if args.wall else "thread CPU"
    print(
        f"torch {torch.__version__}, 1 thread, {clock} time, {args.repeats} samples of "
        f"ABBA windows >= {args.min_seconds:g} s; ratio = GraphNet (or ours) / B, "
        "noise = half IQR",
        flush=True,
    )
    print(f"{'ratio':<40} {'median':>7} {'noise':>7} {'target':>8}  verdict", flush=True)
    floor = 0.0
    for aa in aa_ratios(args.specs[0], args):
        floor = max(floor, abs(aa.median - 1.0) + aa.noise)
        print(row(aa, "(noise floor)"), flush=True)
    lines = chain(
        (line for name in args.specs for line in spec_ratios(name, args)),
        (unpool_ratio(layout, args) for layout in UNPOOL_LAYOUTS),
    )
    missed = total = 0
    for line in lines:  # printed as measured: a full run takes minutes
        verdict = line.verdict(floor)
        missed, total = missed + (verdict != "ok"), total + 1
        print(row(line, verdict), flush=True)
    print(f"A/A noise floor {floor:.3f}; {missed} of {total} lines miss their target")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
