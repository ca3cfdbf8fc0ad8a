"""A search's design space: the spec's knobs as Optuna distributions, and each trial's spec.

A trial is the searched spec with the trial's knob values set (:func:`graphspec.search_space.
with_values`), written into the run folder as a plain spec file (``trials/trial-0007.yaml``)
so that it can be read, checked, compiled or benched again by hand. Its ``name`` is the
spec's with the trial number, so every trial is a spec of its own in the results and the
report; its ``search:`` section is dropped (a trial is one point) and so is its ``budget:``
(the budget is the study's constraint, :func:`budget_excess`, not a reason to fail a job).

Each combination is compiled before it is benched: one whose shapes do not work is a pruned
trial with the compiler's one-line reason, not a crash.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from graphspec import Spec, SpecError, load_spec, totals
from graphspec.search_schema import NumberRange
from graphspec.source import read_yaml

__all__ = [
    "SearchSpace",
    "TrialCheck",
    "budget_excess",
    "check_trial",
    "trial_document",
    "write_trial_spec",
]

TRIALS_DIR = "trials"


@dataclass(frozen=True)
class SearchSpace:
    """The searched spec (its parsed document and model) and its knobs."""

    spec_file: Path
    document: dict[str, Any]
    spec: Spec

    @classmethod
    def load(cls, spec_file: Path) -> SearchSpace:
        """The spec at ``spec_file``; a SpecError if it is invalid or declares no knobs."""
        spec = load_spec(spec_file)
        if not spec.search:
            raise SpecError.at(
                spec.source.locate(()),
                "the spec has no search: section (expected knobs to search, e.g. "
                "search: {scale.width: [0.5, 1.0]})",
            )
        document, _ = read_yaml(spec_file.read_text(encoding="utf-8-sig"), str(spec_file))
        return cls(spec_file, document, spec)

    @functools.cached_property
    def distributions(self) -> dict[str, Any]:
        """Knob path -> the Optuna distribution of its values (built once: every trial
        asks with them)."""
        import optuna.distributions as dist

        out: dict[str, Any] = {}
        for knob, values in (self.spec.search or {}).items():
            if isinstance(values, NumberRange) and values.integer:
                step = int(values.step or 1)
                out[knob] = dist.IntDistribution(
                    int(values.low), int(values.high), log=values.log, step=step
                )
            elif isinstance(values, NumberRange):
                out[knob] = dist.FloatDistribution(
                    float(values.low), float(values.high), log=values.log, step=values.step
                )
            else:
                out[knob] = dist.CategoricalDistribution(list(values))
        return out


def trial_document(space: SearchSpace, values: Mapping[str, Any], number: int) -> dict[str, Any]:
    """The spec document of trial ``number``: the knobs set, named after the trial, without
    ``search:`` or ``budget:`` (see the module docstring)."""
    from graphspec.search_space import with_values

    document = with_values(space.document, values)
    document.pop("search", None)
    document.pop("budget", None)
    document["name"] = f"{space.spec.name}-t{number:04d}"
    return document


def write_trial_spec(
    run_dir: Path, space: SearchSpace, values: Mapping[str, Any], number: int
) -> Path:
    """Write trial ``number``'s spec file into ``run_dir/trials`` (atomically) and return it;
    the header says which search and which values made it."""
    from graphspec.atomic import atomic_write_text, ensure_dir

    folder = ensure_dir(run_dir / TRIALS_DIR)
    path = folder / f"trial-{number:04d}.yaml"
    header = [f"# trial {number} of the search of {space.spec_file.name}:"]
    header += [f"#   {knob}: {value!r}" for knob, value in values.items()]
    body = yaml.safe_dump(trial_document(space, values, number), sort_keys=False)
    atomic_write_text(path, "\n".join(header) + "\n" + body)
    return path


@dataclass(frozen=True)
class TrialCheck:
    """A trial spec that compiles: its parameters and GFLOPs (what the budget limits)."""

    params: int
    gflops: float


def check_trial(spec_file: Path) -> TrialCheck | str:
    """The trial's static cost, or why it is invalid (the compiler's first issue, one line)."""
    from compiler import compile_graph

    try:
        spec = load_spec(spec_file)
        graph = compile_graph(spec, check_budget=False)
    except SpecError as exc:
        return str(exc).splitlines()[0]
    total = totals(graph)
    return TrialCheck(params=total.params, gflops=total.gflops)


def budget_excess(spec: Spec, check: TrialCheck) -> dict[str, float]:
    """How far a trial is over each limit of ``spec``'s budget (``max_params``,
    ``max_gflops``), as fractions of the limit (Optuna's constraints: <= 0 is feasible);
    empty without a budget."""
    budget = spec.budget
    if budget is None:
        return {}
    limits = {"max_params": (budget.max_params, check.params),
              "max_gflops": (budget.max_gflops, check.gflops)}  # fmt: skip
    return {name: value / limit - 1.0 for name, (limit, value) in limits.items() if limit}
