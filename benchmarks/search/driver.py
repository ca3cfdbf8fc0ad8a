"""``graphspec search``: ask Optuna for knob values, bench each trial, tell it the result.

Optuna is driven by ask/tell here, in the driver, never inside a worker (NSGA-II's sampler
does not pickle, ``../shared/design/scaling.md``). Each round asks as many trials as can
run at once (one on the local engine, the cluster's slots on Ray), writes each trial's spec
(:mod:`benchmarks.search.space`), compiles it (an invalid combination is pruned with its
reason), benches the valid ones together with :func:`~benchmarks.sweep.orchestrate.run_bench`
(the protocol, store, resume and engines of ``graphspec bench``: a trial's row is an
ordinary results row) and tells each its objectives. A trial whose knob values equal a
finished trial's is told that trial's result without training again (small categorical
spaces repeat). The loop stops when the study holds ``trials`` finished trials, so a
re-run with a larger number continues where the last one stopped.

Ctrl-C stops the round: its unfinished trials are told failed ("interrupted"), finished
rows and trials stay, and the outputs are written for what finished.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from benchmarks.search.objectives import Objective
from benchmarks.search.space import (
    SearchSpace,
    TrialCheck,
    budget_excess,
    check_trial,
    write_trial_spec,
)
from benchmarks.search.study import CONSTRAINTS_ATTR
from benchmarks.store.results import ResultsStore
from benchmarks.store.row import verdict_flags
from benchmarks.store.settings import JobSettings
from benchmarks.sweep.orchestrate import SweepOptions, run_bench
from benchmarks.sweep.plan import plan_jobs
from benchmarks.sweep.ray_cluster import RayOptions
from benchmarks.sweep.runner import SweepEvent

__all__ = ["Round", "TrialEvent", "run_rounds"]

REASON_ATTR = "reason"
SAME_AS_ATTR = "same_as"
ROW_ATTRS = ("converged", "learned", "timing_noisy", "job_key", "spec")
TrialKind = Literal["asked", "pruned", "reused", "ok", "failed"]


@dataclass(frozen=True)
class TrialEvent:
    """One trial's progress, for the command line."""

    kind: TrialKind
    number: int
    params: Mapping[str, Any]
    finished: int
    total: int
    values: Sequence[float] | None = None
    reason: str | None = None
    flags: Sequence[str] = ()
    columns: Sequence[str] = ()


@dataclass
class Round:
    """What one call of :func:`run_rounds` did."""

    ran: int = 0
    pruned: int = 0
    reused: int = 0
    failed: int = 0
    interrupted: bool = False


@dataclass(frozen=True)
class _Prepared:
    trial: Any
    spec_file: Path
    check: TrialCheck


def finished_count(study: Any) -> int:
    """Trials that count towards ``--trials``: complete, pruned or failed ones (a trial left
    running by a killed process does not count, and the next run asks a new one)."""
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)  # fmt: skip
    return len(study.get_trials(deepcopy=False, states=done))


def _same_as(study: Any, params: Mapping[str, Any]) -> Any | None:
    """A complete or pruned trial with exactly these knob values, if any."""
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for old in study.get_trials(deepcopy=False, states=states):
        if old.params == dict(params):
            return old
    return None


def _prepare(
    study: Any,
    space: SearchSpace,
    objectives: Sequence[Objective],
    run_dir: Path,
    emit: Callable[..., None],
    tally: Round,
) -> _Prepared | None:
    """Ask one trial; tell it at once when it repeats a finished one or does not compile."""
    import optuna

    trial = study.ask(space.distributions)
    old = _same_as(study, trial.params)
    if old is not None:
        for key, value in old.user_attrs.items():
            trial.set_user_attr(key, value)
        _constrain(trial, old.user_attrs.get(CONSTRAINTS_ATTR, {}))
        trial.set_user_attr(SAME_AS_ATTR, old.number)
        if old.state == optuna.trial.TrialState.PRUNED:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            emit("pruned", trial, reason=old.user_attrs.get(REASON_ATTR))
        else:
            study.tell(trial, old.values)
            flags = trial_flags(old.user_attrs, objectives)
            same = f"same values as trial {old.number}"
            emit("reused", trial, values=old.values, reason=same, flags=flags)
        tally.reused += 1
        return None
    spec_file = write_trial_spec(run_dir, space, trial.params, trial.number)
    trial.set_user_attr("spec_file", str(spec_file))
    check = check_trial(spec_file)
    if isinstance(check, str):
        trial.set_user_attr(REASON_ATTR, check)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        tally.pruned += 1
        emit("pruned", trial, reason=check)
        return None
    _constrain(trial, budget_excess(space.spec, check))
    emit("asked", trial)
    return _Prepared(trial, spec_file, check)


def _constrain(trial: Any, excess: Mapping[str, float]) -> None:
    """The trial's budget excess, as Optuna constraints (the samplers steer by them) and as
    a user attribute (the front and the flags read it)."""
    trial.set_user_attr(CONSTRAINTS_ATTR, dict(excess))
    for name, value in excess.items():
        trial.set_constraint(name, value)


def _rows_by_key(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The run folder's results, the latest row of each job key."""
    return {str(row.get("job_key")): row for row in ResultsStore(run_dir).rows()}


def _tell(
    study: Any,
    prepared: _Prepared,
    row: Mapping[str, Any] | None,
    objectives: Sequence[Objective],
    emit: Callable[..., None],
) -> bool:
    """Tell a benched trial its objectives (True), or that it failed (False)."""
    import optuna

    trial = prepared.trial
    for name in ROW_ATTRS:
        if row is not None and row.get(name) is not None:
            trial.set_user_attr(name, _plain(row.get(name)))
    values = [o.value(row) for o in objectives] if row and row.get("status") == "ok" else None
    if values is None or any(v is None for v in values):
        missing = [str(o) for o, v in zip(objectives, values or [], strict=False) if v is None]
        reason = (row or {}).get("error") or f"no value for {', '.join(missing) or 'its row'}"
        trial.set_user_attr(REASON_ATTR, str(reason))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        emit("failed", trial, reason=str(reason))
        return False
    study.tell(trial, values)
    emit("ok", trial, values=values, flags=trial_flags(trial.user_attrs, objectives))
    return True


def _plain(value: Any) -> Any:
    """A value Optuna's journal can store (numpy scalars and NaN made plain)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def trial_flags(attrs: Mapping[str, Any], objectives: Sequence[Objective]) -> list[str]:
    """What a reader must know about a trial's numbers: a bench result line's words (its
    timing only where a timing is an objective), and whether it is over budget."""
    noisy = bool(attrs.get("timing_noisy")) and any(o.timed for o in objectives)
    flags = verdict_flags(attrs.get("converged"), attrs.get("learned"), noisy)
    if any(excess > 0 for excess in attrs.get(CONSTRAINTS_ATTR, {}).values()):
        flags.append("OVER BUDGET")
    return flags


def run_rounds(
    study: Any,
    space: SearchSpace,
    objectives: Sequence[Objective],
    sweep: SweepOptions,
    trials: int,
    batch: int,
    on_trial: Callable[[TrialEvent], None] | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
) -> Round:
    """Ask, bench and tell rounds of up to ``batch`` trials until ``trials`` are finished."""
    tally = Round()
    run_dir = Path(sweep.out)

    def emit(kind: TrialKind, trial: Any, **extra: Any) -> None:
        if on_trial is not None:
            count = finished_count(study)
            columns = [o.column for o in objectives]
            event = TrialEvent(kind, trial.number, dict(trial.params), count, trials, **extra)
            on_trial(dataclasses.replace(event, columns=columns))

    while not tally.interrupted and (left := trials - finished_count(study)) > 0:
        asked = [
            _prepare(study, space, objectives, run_dir, emit, tally)
            for _ in range(min(batch, left))
        ]
        prepared = [item for item in asked if item is not None]
        if prepared:
            _bench_round(study, prepared, objectives, sweep, tally, emit, on_event)
    return tally


def _bench_round(
    study: Any,
    prepared: Sequence[_Prepared],
    objectives: Sequence[Objective],
    sweep: SweepOptions,
    tally: Round,
    emit: Callable[..., None],
    on_event: Callable[[SweepEvent], None] | None,
) -> None:
    """Bench the round's trials as one sweep, then tell each its result."""
    import optuna

    files = [p.spec_file for p in prepared]
    outcome = run_bench(files, dataclasses.replace(sweep, report=False), on_event=on_event)
    rows = _rows_by_key(Path(sweep.out))
    keys = [job.key for job in plan_jobs(files, [sweep.settings.as_json()])]
    for item, key in zip(prepared, keys, strict=True):
        row = rows.get(key)
        if row is None and outcome.summary.interrupted:
            item.trial.set_user_attr(REASON_ATTR, "interrupted")
            study.tell(item.trial, state=optuna.trial.TrialState.FAIL)
            continue
        if _tell(study, item, row, objectives, emit):
            tally.ran += 1
        else:
            tally.failed += 1
    tally.interrupted = outcome.summary.interrupted


def ray_batch(options: RayOptions, settings: JobSettings) -> int:
    """How many trials run at once on the Ray cluster (its slots for one job's demand)."""
    from benchmarks.sweep.ray_cluster import job_demand, job_slots

    return job_slots(job_demand(settings, options))
