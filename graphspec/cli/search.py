"""``graphspec search``: search a spec's ``search:`` knobs for the accuracy-vs-cost front.

Parses the options (``bench``'s run and engine options, plus the trials, objectives and
sampler), checks them as ``bench`` does, and runs :func:`benchmarks.search.run.run_search`,
printing one line per trial and the front at the end (stderr: progress; stdout: the front
table, or one JSON object with ``--format json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.store.settings import DEFAULT_SETTINGS
from graphspec.cli.engine_options import add_engine_options
from graphspec.cli.errors import EXIT_USAGE, UsageError
from graphspec.cli.options import add_command, positive
from graphspec.cli.run_options import add_run_options, check_run_options

if TYPE_CHECKING:
    from benchmarks.search.driver import TrialEvent
    from benchmarks.search.run import SearchOutcome


def add_search_command(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "search",
        help="search a spec's knobs (its search: section) for the accuracy-vs-cost front",
        description="Optuna proposes values for the spec's knobs; each trial is the spec "
        "with those values (OUT/trials/trial-NNNN.yaml), compiled (an invalid combination "
        "is pruned with its reason), then benched with bench's protocol, store and engines "
        "and told back. The study lives in OUT/study.journal: re-running with a larger "
        "--trials continues it, and several processes (or --engine ray) share it. Writes "
        "OUT/pareto.csv (the front), trials.csv and the bench report of every trial, "
        "opening with the search's front and knob charts (OUT/report/). The spec's "
        "budget: is the study's constraint: trials over it are "
        "marked and never on the front.",
        examples=[
            "graphspec search specs/unet-small.yaml --trials 12 --out runs/unet-search",
            "graphspec search specs/unet-small.yaml --trials 24 --out runs/unet-search",
            "graphspec search S.yaml --objectives miou:max,latency_ms:min --out runs/s",
        ],
    )
    p.add_argument("spec", metavar="SPEC", help="a spec file with a search: section")
    p.add_argument("--out", required=True, metavar="runs/NAME", help="run directory")
    p.add_argument(
        "--trials",
        type=positive,
        default=12,
        metavar="N",
        help="finished trials the study should hold (default 12; a re-run continues)",
    )
    p.add_argument(
        "--objectives",
        default=None,
        metavar="COL:max|min,...",
        help="results columns to optimise (default: the task's metric:max,gflops:min); "
        "any metric, gflops, params, latency_ms, throughput_ips, peak_mem_mb, train_s",
    )
    p.add_argument("--sampler", choices=("nsga2", "tpe"), default="nsga2", help="Optuna's sampler")
    p.add_argument("--sampler-seed", type=int, default=0, help="the sampler's seed")
    p.add_argument(
        "--population",
        type=positive,
        default=8,
        metavar="N",
        help="NSGA-II's trials per generation (default 8; the first are random)",
    )
    add_run_options(p, DEFAULT_SETTINGS)
    add_engine_options(p)
    p.add_argument("--no-report", action="store_true", help="skip the bench report")
    p.set_defaults(func=cmd_search, shard=None, retry_failed=False)


def _objectives(args: argparse.Namespace, spec_file: Path):  # type: ignore[no-untyped-def]
    """The parsed objectives, checked against the spec's task (a UsageError if not)."""
    from benchmarks.search.objectives import ObjectiveError, default_objectives, parse_objectives
    from benchmarks.tasks import task_for
    from compiler import compile_graph
    from graphspec import load_spec

    spec = load_spec(spec_file)
    task = type(task_for(spec, compile_graph(spec, check_budget=False)))
    try:
        return tuple(parse_objectives(args.objectives, task) if args.objectives else
                     default_objectives(task))  # fmt: skip
    except ObjectiveError as exc:
        raise UsageError(str(exc)) from None


def cmd_search(args: argparse.Namespace) -> int:
    from benchmarks.search.run import SearchOptions, run_search
    from benchmarks.search.study import SearchMismatch
    from benchmarks.sweep.ray_cluster import ClusterError
    from graphspec.cli.bench import sweep_options

    spec_file = Path(args.spec)
    if args.seeds != 1:
        raise UsageError("--seeds: a search trains each trial once (bench the front's specs "
                         "with --seeds to check them)")  # fmt: skip
    objectives = _objectives(args, spec_file)
    problem = check_run_options(args, [spec_file])
    if problem is not None:
        raise UsageError(problem)
    sweep = dataclasses.replace(sweep_options(args), report=not args.no_report)
    options = SearchOptions(
        sweep, args.trials, objectives, args.sampler, args.sampler_seed, args.population
    )
    try:
        outcome = run_search(spec_file, options, on_trial=_trial_printer(args.quiet))
    except (SearchMismatch, ClusterError) as exc:
        print(f"graphspec search: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _print_outcome(outcome, args.format == "json")
    return outcome.exit_code


def _trial_printer(quiet: bool):  # type: ignore[no-untyped-def]
    def show(event: TrialEvent) -> None:
        if quiet and event.kind != "failed":
            return
        values = ", ".join(f"{k}={v!r}" for k, v in event.params.items())
        head = f"trial {event.number} ({values})"
        if event.kind == "asked":
            line = f"{head}: benching"
        elif event.kind in ("ok", "reused"):
            pairs = zip(event.columns, event.values or (), strict=False)
            numbers = ", ".join(f"{column} {value:.4g}" for column, value in pairs)
            flags = f" [{'; '.join(event.flags)}]" if event.flags else ""
            extra = f" ({event.reason})" if event.reason else ""
            line = f"{head}: {numbers}{extra}{flags} [{event.finished}/{event.total} finished]"
        else:
            line = f"{head}: {event.kind.upper()} ({event.reason})"
        print(line, file=sys.stderr, flush=True)

    return show


def _print_outcome(outcome: SearchOutcome, as_json: bool) -> None:
    table = outcome.table
    front = table[table["on_front"]].drop(columns=["on_front", "spec_file", "same_as"])
    if as_json:
        print(json.dumps({
            "pareto": str(outcome.pareto),
            "charts": [str(p) for p in outcome.charts],
            "report": None if outcome.report is None else str(outcome.report),
            "trials": len(table),
            "front": json.loads(front.to_json(orient="records")),
            "interrupted": outcome.tally.interrupted,
        }, indent=1))  # fmt: skip
        return
    tally = outcome.tally
    print(
        f"{tally.ran} benched, {tally.reused} repeats, {tally.pruned} pruned, "
        f"{tally.failed} failed; {len(front)} of {len(table)} trials on the front:",
        file=sys.stderr,
    )
    hidden = ["feasible", "converged", "learned", "timing_noisy", "reason", "state"]
    shown = front.drop(columns=hidden)
    print(shown.to_string(index=False) if len(shown) else "(no trial on the front)")
    print(f"pareto: {outcome.pareto}")
    if outcome.report is not None:
        print(f"report: {outcome.report}")
