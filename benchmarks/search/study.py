"""The Optuna study of a search, kept in its run folder.

The study lives in ``OUT/study.journal`` (Optuna's journal file storage: appends under a
file lock), so re-running ``graphspec search`` with a larger ``--trials`` continues the same
study, and several processes (or Ray workers' driver) on one folder share it. SQLite is
not used: two processes creating a fresh SQLite study at once crash
(``../shared/design/scaling.md``).

``OUT/search.json`` records what the study means: the spec (by its bytes' hash), its knobs,
the objectives and the job settings. A later run that differs in any of them would mix
trials of two questions in one front, so it is refused with the difference named; the
sampler and its seed may change (they steer where the next trials go, not what they mean).

Samplers: NSGA-II (multi-objective default, seeded, ``population`` trials a generation)
or TPE (multivariate, seeded). The spec's budget is their constraint: each trial records
how far it is over each limit (``Trial.set_constraint``,
:func:`benchmarks.search.space.budget_excess`), and an infeasible trial never dominates a
feasible one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from benchmarks.search.objectives import Objective
from graphspec.atomic import atomic_write_text, ensure_dir

__all__ = [
    "CONSTRAINTS_ATTR",
    "SearchIdentity",
    "SearchMismatch",
    "open_study",
    "record_identity",
]

STUDY_NAME = "graphspec-search"
JOURNAL_FILE = "study.journal"
IDENTITY_FILE = "search.json"
CONSTRAINTS_ATTR = "budget_excess"
Sampler = Literal["nsga2", "tpe"]


class SearchMismatch(ValueError):
    """The run folder holds a search of another question (one line)."""


@dataclass(frozen=True)
class SearchIdentity:
    """What a study's trials answer: the spec, its knobs, the objectives, the settings."""

    spec: str
    spec_hash: str
    knobs: dict[str, Any]
    objectives: list[str]
    settings: dict[str, Any]


def record_identity(run_dir: Path, identity: SearchIdentity) -> None:
    """Write ``search.json``, or refuse when the folder's search differs from ``identity``."""
    path = run_dir / IDENTITY_FILE
    mine = asdict(identity)
    if path.is_file():
        try:
            theirs = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SearchMismatch(f"{path}: not a search record ({exc})") from None
        differ = [key for key in mine if theirs.get(key) != json.loads(json.dumps(mine[key]))]
        if differ:
            raise SearchMismatch(
                f"{run_dir} holds a search with other {', '.join(differ)} "
                "(trials of two questions would share one front): use another --out"
            )
        return
    ensure_dir(run_dir)
    atomic_write_text(path, json.dumps(mine, indent=1, default=str))


def make_sampler(kind: Sampler, seed: int, population: int) -> Any:
    """The seeded sampler. Both take the trials' constraints (``Trial.set_constraint``,
    set from the budget by the driver) into account."""
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=population)


def open_study(run_dir: Path, objectives: Sequence[Objective], sampler: Any) -> Any:
    """The run folder's study (created on the first run, loaded on the next ones)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(ensure_dir(run_dir) / JOURNAL_FILE)))
    return optuna.create_study(
        study_name=STUDY_NAME,
        storage=storage,
        directions=[o.optuna_direction for o in objectives],
        sampler=sampler,
        load_if_exists=True,
    )
