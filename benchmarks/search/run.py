"""A whole search: the space, the study, the rounds of trials, then the front and its charts.

What ``graphspec search`` does, as one function with typed options (the command line only
parses and prints). The run folder holds everything: ``search.json`` (what the study
answers), ``study.journal`` (Optuna's), ``trials/`` (each trial's spec), the bench store
(``results.csv``, ``jobs/``: a trial's row is an ordinary results row), ``trials.csv``,
``pareto.csv``, the charts ``report/search_front`` and ``report/search_knobs`` (PNG
and SVG) and, unless ``report`` is off, the bench
report of every trial (``report/report.html``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.report.write import write_report
from benchmarks.search.charts import plot_front, plot_knob_effects
from benchmarks.search.driver import Round, TrialEvent, ray_batch, run_rounds
from benchmarks.search.front import search_section, trials_table, write_tables
from benchmarks.search.objectives import Objective
from benchmarks.search.space import SearchSpace
from benchmarks.search.study import (
    Sampler,
    SearchIdentity,
    make_sampler,
    open_study,
    record_identity,
)
from benchmarks.store.jobs import file_hash
from benchmarks.store.layout import RunFolder
from benchmarks.sweep.orchestrate import SweepOptions
from benchmarks.sweep.runner import EXIT_INTERRUPTED, EXIT_OK, SweepEvent

__all__ = ["SearchOptions", "SearchOutcome", "run_search"]


@dataclass(frozen=True)
class SearchOptions:
    """How to search: ``trials`` finished trials in all (a re-run continues), the
    objectives, the sampler (``nsga2`` / ``tpe``) and its seed, NSGA-II's generation
    size, and the bench options every trial runs under (``sweep``: settings, engine)."""

    sweep: SweepOptions
    trials: int
    objectives: tuple[Objective, ...]
    sampler: Sampler = "nsga2"
    sampler_seed: int = 0
    population: int = 8


@dataclass(frozen=True)
class SearchOutcome:
    """What a search did and where its outputs are."""

    tally: Round
    table: pd.DataFrame
    pareto: Path
    charts: tuple[Path, ...]
    report: Path | None

    @property
    def exit_code(self) -> int:
        return EXIT_INTERRUPTED if self.tally.interrupted else EXIT_OK


def run_search(
    spec_file: Path,
    options: SearchOptions,
    on_trial: Callable[[TrialEvent], None] | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
) -> SearchOutcome:
    """Search ``spec_file``'s knobs into ``options.sweep.out`` (see the module docstring).

    Raises SpecError (the spec), SearchMismatch (the folder holds another search) or
    ClusterError (Ray) before any trial is asked."""
    space = SearchSpace.load(spec_file)
    sweep = dataclasses.replace(options.sweep, seeds=1, shard=None)
    run_dir = Path(sweep.out)
    record_identity(run_dir, _identity(space, options))
    with _session(sweep):
        batch = ray_batch(sweep.ray, sweep.settings) if sweep.ray is not None else 1
        sampler = make_sampler(options.sampler, options.sampler_seed, options.population)
        study = open_study(run_dir, options.objectives, sampler)
        tally = run_rounds(
            study, space, options.objectives, sweep, options.trials, batch, on_trial, on_event
        )
    return _outputs(run_dir, study, space, options, tally)


def _session(sweep: SweepOptions) -> contextlib.AbstractContextManager[None]:
    """One Ray session for all rounds on the Ray engine (each round's sweep joins it)."""
    if sweep.ray is None:
        return contextlib.nullcontext()
    from benchmarks.sweep.ray_cluster import ray_session

    return ray_session(sweep.ray)


def _identity(space: SearchSpace, options: SearchOptions) -> SearchIdentity:
    knobs = {
        knob: value.model_dump() if hasattr(value, "model_dump") else list(value)
        for knob, value in (space.spec.search or {}).items()
    }
    return SearchIdentity(
        spec=space.spec.name,
        spec_hash=file_hash(space.spec_file),
        knobs=knobs,
        objectives=[str(o) for o in options.objectives],
        settings=options.sweep.settings.as_json(),
    )


def _declared(space: SearchSpace) -> dict[str, list[Any] | None]:
    """Each knob's declared choices (None for a numeric range), for the knob chart."""
    return {
        knob: list(values) if isinstance(values, list) else None
        for knob, values in (space.spec.search or {}).items()
    }


def _outputs(
    run_dir: Path, study: object, space: SearchSpace, options: SearchOptions, tally: Round
) -> SearchOutcome:
    """The trials table and pareto.csv, the charts (into the report folder) and, unless
    off or interrupted, the bench report of every trial with the search's section first."""
    knobs: Sequence[str] = list(space.spec.search or {})
    table = trials_table(study, knobs, options.objectives)
    pareto = write_tables(run_dir, table, options.objectives)
    report_dir = RunFolder(run_dir).report_dir
    objectives, declared = options.objectives, _declared(space)
    drawn = (
        plot_front(table, objectives, report_dir / "search_front"),
        plot_knob_effects(table, declared, objectives, report_dir / "search_knobs"),
    )
    charts = [chart for chart in drawn if chart is not None]
    report = None
    has_rows = RunFolder(run_dir).results_csv.is_file()
    if options.sweep.report and has_rows and not tally.interrupted:
        written = write_report(
            run_dir,
            report_dir,
            title=f"graphspec search: {space.spec.name}",
            allow_noisy=options.sweep.allow_noisy,
            first=[search_section(space.spec.name, table, options.objectives, charts)],
        )
        report = written["report.html"]
    return SearchOutcome(tally, table, pareto, tuple(c.png for c in charts), report)
