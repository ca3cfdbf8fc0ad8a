"""The training recipe of one job: the sweep's shared values, overridden by the spec's own.

Every spec of a sweep trains with one recipe so that differences come from the
architectures; a spec's ``train:`` section is the documented exception (see
docs/protocol.md, "Recipes"). :func:`resolve_recipe` merges the two and records where each
value came from, so a results row says which specs did not use the shared recipe.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from benchmarks.train.config import TrainConfig
from graphspec.schema import MAX_BATCH_SIZE, MAX_EPOCHS, Spec

__all__ = ["AUTO_LR", "Recipe", "RecipeSources", "Source", "SweepRecipe", "resolve_recipe"]

AUTO_LR = "auto"
"""The sweep's ``lr`` value that asks for a learning-rate range test per spec."""

Source = Literal["spec", "sweep", "auto"]

_DEFAULTS = TrainConfig()  # what a sweep that leaves a value unset trains with


@dataclass(frozen=True)
class SweepRecipe:
    """The recipe values a sweep shares across its specs; unset ones (None) are the
    harness defaults of :class:`~benchmarks.train.config.TrainConfig`. ``lr`` may be
    ``"auto"`` (any case): a learning-rate range test per spec."""

    lr: float | str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    weight_decay: float | None = None
    warmup: float | None = None


@dataclass(frozen=True)
class RecipeSources:
    """Where each value of a :class:`Recipe` came from.

    ``spec``: the spec's ``train:`` section; ``sweep``: the sweep's settings (or the
    harness default the sweep left in place); ``auto``: the range test (lr only).
    """

    lr: Source
    epochs: Source
    batch_size: Source
    weight_decay: Source
    warmup_fraction: Source


@dataclass(frozen=True)
class Recipe:
    """The hyper-parameters one spec trains with.

    ``lr`` is ``None`` while ``source.lr == "auto"`` and the range test has not run yet;
    :meth:`with_found_lr` fills it in.
    """

    lr: float | None
    epochs: int
    batch_size: int
    weight_decay: float
    warmup_fraction: float
    source: RecipeSources

    def __post_init__(self) -> None:
        _check_recipe(self)

    @property
    def needs_lr_search(self) -> bool:
        """True until the range test has chosen the lr of an ``auto`` recipe."""
        return self.lr is None

    def with_found_lr(self, lr: float) -> Recipe:
        """This recipe with the lr the range test chose (its source stays ``auto``)."""
        if self.source.lr != "auto":
            raise ValueError(f"the lr of this recipe comes from the {self.source.lr}, not 'auto'")
        return dataclasses.replace(self, lr=lr)

    def as_json(self) -> dict[str, Any]:
        """A flat JSON-ready record (for the results row and ``config.json``)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(RecipeSources)}
        sources = {f"{name}_source": getattr(self.source, name) for name in values}
        return {**values, **sources}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_recipe(recipe: Recipe) -> None:
    """One-line ValueError for a value no spec could hold (the sweep is checked here)."""
    lr, epochs, batch = recipe.lr, recipe.epochs, recipe.batch_size
    decay, warmup = recipe.weight_decay, recipe.warmup_fraction
    if lr is None and recipe.source.lr != "auto":
        raise ValueError("lr is missing (expected a number > 0 or 'auto')")
    if lr is not None and not (_is_number(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0 or 'auto', got {lr!r}")
    if not (_is_int(epochs) and 1 <= epochs <= MAX_EPOCHS):
        raise ValueError(f"epochs must be an integer in 1..{MAX_EPOCHS}, got {epochs!r}")
    if not (_is_int(batch) and 1 <= batch <= MAX_BATCH_SIZE):
        raise ValueError(f"batch_size must be an integer in 1..{MAX_BATCH_SIZE}, got {batch!r}")
    if not (_is_number(decay) and decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {decay!r}")
    if not (_is_number(warmup) and 0 <= warmup < 1):
        raise ValueError(f"warmup must be a fraction in [0, 1), got {warmup!r}")


def _pick(spec: Spec, sweep: SweepRecipe, key: str, field: str) -> tuple[Any, Source]:
    """The spec's ``train.<key>`` when set, else the sweep's, else the harness default."""
    spec_value = getattr(spec.train, key) if spec.train is not None else None
    if spec_value is not None:
        return spec_value, "spec"
    value = getattr(sweep, key)
    return (getattr(_DEFAULTS, field) if value is None else value), "sweep"


def resolve_recipe(sweep: SweepRecipe, spec: Spec) -> Recipe:
    """The recipe ``spec`` trains with under the sweep's shared values.

    A key of the spec's ``train:`` section wins over the sweep's value of the same name
    (``lr``, ``epochs``, ``batch_size``, ``weight_decay``, ``warmup``); an unset one falls
    back to the harness default of :class:`~benchmarks.train.config.TrainConfig`. A sweep
    ``lr`` of ``"auto"`` (any case) leaves ``lr`` unset with source ``auto`` unless the spec
    gives one.

    Raises:
        ValueError: a sweep value out of range (spec values were checked on load).
    """
    lr, lr_source = _pick(spec, sweep, "lr", "lr")
    if lr_source == "sweep" and isinstance(lr, str) and lr.strip().lower() == AUTO_LR:
        lr, lr_source = None, "auto"
    epochs = _pick(spec, sweep, "epochs", "epochs")
    batch = _pick(spec, sweep, "batch_size", "batch_size")
    decay = _pick(spec, sweep, "weight_decay", "weight_decay")
    warmup = _pick(spec, sweep, "warmup", "warmup_fraction")
    sources = RecipeSources(lr_source, epochs[1], batch[1], decay[1], warmup[1])
    return Recipe(lr, epochs[0], batch[0], decay[0], warmup[0], sources)
