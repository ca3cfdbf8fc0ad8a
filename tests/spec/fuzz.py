"""Whole-path fuzz of graphspec: ``python -m tests.spec.fuzz --cases 10000 [--seed S] [--cli N]``.

Each mutated reference spec (:mod:`tests.fuzz_mutations`) goes through everything a user
can reach: ``load_spec``, ``build_graph``, ``compile_graph`` (every pass, the output and
budget checks), ``totals``, and, when the totals are small enough to build without big
memory, ``GraphNet``, ``generate_source`` and the generated class (compiled, executed,
instantiated, and loading ``GraphNet``'s state_dict with ``strict=True``), and for tiny
ones a forward pass whose output shapes must be the IR's. A ``SpecError``
is the right answer to bad input; any other exception, or a case over the time limit, is a
*finding*. Every ``--cli``-th case also runs ``graphspec check`` and ``graphspec summary``
in-process, where a traceback or an escaping exception is a finding; a few run the real
console command in a subprocess. Prints a summary and exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import REPO
from tests.spec.fuzz_mutations import Case, corpus, make_case

ROOT = REPO
LIMIT_S = 5.0
BAD_OUTPUT = re.compile("Traceback|internal error")  # what the CLI must never print
MAX_PARAMS = 5_000_000  # build modules only below this (bounded memory)
MAX_GFLOPS = 5.0
MAX_FORWARD_GFLOPS = 0.3  # and run a forward pass only below this


class Hang(Exception):
    """Raised by the alarm when a case runs past the limit."""


@dataclass(frozen=True)
class Outcome:
    """What one case did: ``accepted``, ``spec_error`` or ``finding`` (with where and what)."""

    case: Case
    kind: str
    stage: str = ""
    error: str = ""
    message: str = ""
    where: str = ""
    seconds: float = 0.0


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread after ``seconds`` of wall time."""

    def fire(signum: int, frame: Any) -> None:
        raise Hang(f"over {seconds:g} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _emit(graph: Any) -> None:
    """The network, its generated source, and the source's class loading its state_dict."""
    import torch

    import graphspec
    from compiler import build_network
    from compiler.emit.codegen import generate_source

    net = build_network(graph)
    source = generate_source(graph)
    namespace: dict[str, Any] = {"__name__": "fuzz_generated"}
    exec(compile(source, "<generated>", "exec"), namespace)
    classes = [v for v in namespace.values() if isinstance(v, type) and hasattr(v, "forward")]
    generated = [c for c in classes if c.__module__ == "fuzz_generated"]
    if len(generated) != 1:
        raise AssertionError(f"generated source defines {len(generated)} module classes")
    generated[0]().load_state_dict(net.state_dict(), strict=True)
    if graphspec.totals(graph).gflops <= MAX_FORWARD_GFLOPS:  # shape inference == PyTorch
        with torch.no_grad():
            out = net.eval()(torch.zeros(1, *graph[graphspec.INPUT].shape))
        _check_shapes(graph, out)


def _check_shapes(graph: Any, out: Any) -> None:
    """The forward's shapes are the IR's (a two-stage detector's per RoI, at most the
    stated RoIs)."""
    from compiler.emit.two_stage import TwoStageOutput, two_stage_layout

    names = graph.results
    if isinstance(out, TwoStageOutput):
        layout = two_stage_layout(graph)
        names, out = (layout.scores, layout.deltas), (out.class_logits, out.box_deltas)
        if out[0].shape[0] > layout.rois:
            raise AssertionError(f"{out[0].shape[0]} RoIs, over the stated {layout.rois}")
    got = [tuple(t.shape[1:]) for t in (out if isinstance(out, tuple) else (out,))]
    if got != [tuple(graph[r].shape) for r in names]:
        raise AssertionError(f"forward gave {got}, the IR says {names} shapes")


def stages(text: str) -> list[tuple[str, Callable[[Any], Any]]]:
    """The path, as (name, step) pairs; each step takes the previous one's result."""
    import graphspec
    from compiler import compile_graph

    def small(graph: Any) -> Any:
        total = graphspec.totals(graph)
        return graph if total.params <= MAX_PARAMS and total.gflops <= MAX_GFLOPS else None

    return [
        ("load_spec", lambda _: graphspec.load_spec(text, file="fuzz.yaml")),
        ("build_graph", lambda spec: (spec, graphspec.build_graph(spec))),
        ("compile_graph", lambda pair: compile_graph(pair[0])),
        ("totals", small),
        ("emit", lambda graph: graph is not None and _emit(graph)),
    ]


def _where(exc: BaseException) -> str:
    """The innermost frame of the project (not of torch/pydantic) the exception came from."""
    tb = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in tb if f.filename.startswith(str(ROOT)) and "site-packages" not in f.filename]
    inner = next((f for f in reversed(ours) if not f.filename.endswith("fuzz.py")), None)
    if inner is None:
        return "?"
    return f"{Path(inner.filename).relative_to(ROOT)}:{inner.lineno} {inner.name}"


def run_case(case: Case, limit: float = LIMIT_S) -> Outcome:
    """Run one case through the whole path under the time limit."""
    from graphspec import SpecError

    text = case.text if "\n" in case.text else case.text + "\n"  # never read as a path
    start, name, value = time.perf_counter(), "", None
    try:
        with deadline(limit):
            for stage_name, step in stages(text):
                name = stage_name
                value = step(value)
    except SpecError:
        return Outcome(case, "spec_error", name, seconds=time.perf_counter() - start)
    except (Exception, RecursionError, Hang) as exc:  # everything else is a finding
        error = "Hang" if isinstance(exc, Hang) else type(exc).__name__
        message = str(exc).splitlines()[0][:160] if str(exc) else ""
        took = time.perf_counter() - start
        return Outcome(case, "finding", name, error, message, _where(exc), took)
    return Outcome(case, "accepted", name, seconds=time.perf_counter() - start)


def run_cli(case: Case, subproc: bool = False) -> list[Outcome]:
    """``graphspec check`` and ``summary`` on the case's text; a traceback is a finding."""
    from graphspec.cli import main

    found = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "fuzz.yaml")
        path.write_text(case.text, "utf-8", errors="surrogatepass")
        for command in ("check", "summary"):
            err, where = io.StringIO(), ""
            try:
                with deadline(LIMIT_S), redirect_stderr(err), redirect_stdout(io.StringIO()):
                    main([command, str(path)])
                text = err.getvalue()
                bad = bool(BAD_OUTPUT.search(text))
            except SystemExit as exc:
                bad, text = exc.code not in (0, 1, 2), err.getvalue()
            except (Exception, Hang) as exc:
                bad, text, where = True, f"{type(exc).__name__}: {exc}", _where(exc)
            last = (text.strip().splitlines() or [""])[-1][:160]
            if bad:
                found.append(Outcome(case, "finding", f"cli {command}", "CLI", last, where))
            if subproc:
                found += _subprocess(case, command, path)
    return found


def _subprocess(case: Case, command: str, path: Path) -> list[Outcome]:
    """The real console command: exit code 0/1 and no traceback on stderr."""
    try:
        run = subprocess.run([sys.executable, "-m", "graphspec.cli", command, str(path)],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)  # fmt: skip
    except subprocess.TimeoutExpired:
        return [Outcome(case, "finding", f"subprocess {command}", "Hang", "over 60 s")]
    if run.returncode in (0, 1) and not BAD_OUTPUT.search(run.stderr):
        return []
    last = (run.stderr.strip().splitlines() or [""])[-1][:160]
    return [Outcome(case, "finding", f"subprocess {command}", f"exit {run.returncode}", last)]


@dataclass
class Campaign:
    """Counts and findings of a run."""

    outcomes: list[Outcome] = field(default_factory=list)
    findings: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, kind: str) -> int:
        return sum(o.kind == kind for o in self.outcomes)


def campaign(cases: int, seed: int = 0, cli_every: int = 30, subproc_every: int = 0,
             start: int = 0, stop_after: float = 0.0) -> Campaign:  # fmt: skip
    """Run ``cases`` cases of campaign ``seed``; every ``cli_every``-th also through the CLI
    (and every ``subproc_every``-th of those as a subprocess). With ``stop_after`` seconds,
    stop early there (a busy machine) and report the cases done."""
    bases = corpus()
    run_case(Case(-1, "unet-small", (), bases["unet-small"]), limit=60.0)  # imports, untimed
    result, began = Campaign(), time.perf_counter()
    for index in range(start, start + cases):
        if stop_after and time.perf_counter() - began > stop_after:
            break
        case = make_case(index, seed, bases)
        outcome = run_case(case)
        result.outcomes.append(outcome)
        if outcome.kind == "finding":
            result.findings.append(outcome)
        if (index - start) % 1000 == 999:
            print(f"{index - start + 1} cases, {len(result.findings)} findings", file=sys.stderr)
        if cli_every and index % cli_every == 0:
            sub = bool(subproc_every) and index % (cli_every * subproc_every) == 0
            result.findings += run_cli(case, sub)
    result.seconds = time.perf_counter() - began
    return result


def report(result: Campaign, out: Any = sys.stdout) -> None:
    """The summary table, then findings grouped by (error, stage, place) with one case."""
    slow = max(result.outcomes, key=lambda o: o.seconds, default=None)
    print(f"cases        {len(result.outcomes)}", file=out)
    for kind in ("spec_error", "accepted"):
        print(f"{kind:<12} {result.count(kind)}", file=out)
    print(f"findings     {len(result.findings)}", file=out)
    if slow is not None:
        print(
            f"slowest      case {slow.case.index} ({slow.case.base}) {slow.seconds:.2f} s", file=out
        )
    print(f"total time   {result.seconds:.1f} s", file=out)
    groups: dict[tuple[str, str, str], list[Outcome]] = {}
    for o in result.findings:
        groups.setdefault((o.error, o.stage, o.where), []).append(o)
    for (error, stage, where), items in sorted(groups.items(), key=lambda g: -len(g[1])):
        first = items[0]
        print(f"\n== {error} x{len(items)} in {stage} at {where}\n   {first.message}", file=out)
        print(
            f"   case {first.case.index} from {first.case.base}: {'; '.join(first.case.mutations)}",
            file=out,
        )


def minimize(case: Case, budget_s: float = 60.0) -> str:
    """The case's text with as many lines dropped as keep the same finding (error and
    place): a greedy one-line-at-a-time pass, repeated until nothing more goes."""
    first = run_case(case)
    key = (first.error, first.where)
    lines, began, shrunk = case.text.splitlines(True), time.perf_counter(), True
    while shrunk and time.perf_counter() - began < budget_s:
        shrunk = False
        for i in reversed(range(len(lines))):
            trial = lines[:i] + lines[i + 1 :]
            o = run_case(Case(case.index, case.base, case.mutations, "".join(trial)))
            if o.kind == "finding" and (o.error, o.where) == key:
                lines, shrunk = trial, True
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.spec.fuzz", description=__doc__)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="first case index")
    parser.add_argument(
        "--cli", type=int, default=30, metavar="N", help="every N-th case via the CLI (0: none)"
    )
    parser.add_argument(
        "--subprocess",
        type=int,
        default=10,
        metavar="M",
        help="every M-th CLI case as a subprocess",
    )
    parser.add_argument(
        "--show", type=int, default=None, metavar="I", help="print case I's text and outcome"
    )
    parser.add_argument("--stop", type=float, default=0.0, help="stop after this many seconds")
    parser.add_argument("--minimize", action="store_true", help="with --show: drop lines")
    args = parser.parse_args(argv)
    if args.show is not None:
        case = make_case(args.show, args.seed, corpus())
        outcome = run_case(case)
        text = minimize(case) if args.minimize and outcome.kind == "finding" else case.text
        print(
            f"{text}# {'; '.join(case.mutations)}\n# {outcome.kind} {outcome.stage} "
            f"{outcome.error} {outcome.where}: {outcome.message} ({outcome.seconds:.2f} s)"
        )
        return 0
    result = campaign(args.cases, args.seed, args.cli, args.subprocess, args.start, args.stop)
    report(result)
    return 1 if result.findings else 0


if __name__ == "__main__":
    sys.exit(main())
