"""A spec's ``train:`` section: strict validation at file:line:col, and its precedence over
the sweep's settings in :func:`benchmarks.train.recipe.resolve_recipe`."""

from __future__ import annotations

import pytest

from benchmarks.train.recipe import Recipe, RecipeSources, SweepRecipe, resolve_recipe
from graphspec import SpecError, load_spec

HEADER = "name: t\ninput: {channels: 3, height: 32, width: 32}\nclasses: 10\n"
LAYERS = "encoder:\n  - stage: s\n    layers:\n      - {op: conv, out: 8, kernel: 3}\n"


def _spec(train: str = ""):
    return load_spec(HEADER + train + LAYERS)


def _issues(train: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(SpecError) as info:
        _spec(train)
    return [
        (i.location.line, i.location.column, ".".join(map(str, i.location.key_path)), i.message)
        for i in info.value.issues
    ]


@pytest.mark.parametrize(
    ("train", "column", "key", "message"),
    [
        # "train: {lr: " is 12 characters, so every value below starts at column 13.
        ("train: {lr: 0}", 13, "train.lr", "expected a number > 0.0, got 0"),
        ("train: {lr: -2e-3}", 13, "train.lr", "expected a number > 0.0, got -0.002"),
        ("train: {lr: .inf}", 13, "train.lr", "finite number; got inf"),
        ("train: {lr: .nan}", 13, "train.lr", "finite number; got nan"),
        ("train: {lr: fast}", 13, "train.lr", "wrong type (expected a number, got 'fast')"),
        ("train: {lr: auto}", 13, "train.lr", "wrong type (expected a number, got 'auto')"),
        ("train: {lr: true}", 13, "train.lr", "wrong type (expected a number, got True)"),
        # "train: {epochs: " is 16 characters.
        ("train: {epochs: 0}", 17, "train.epochs", "expected a number >= 1, got 0"),
        ("train: {epochs: 10001}", 17, "train.epochs", "expected a number <= 10000, got 10001"),
        ("train: {epochs: 2.5}", 17, "train.epochs", "expected an integer, got 2.5"),
        # "train: {batch_size: " is 20 characters.
        ("train: {batch_size: 0}", 21, "train.batch_size", "expected a number >= 1, got 0"),
        ("train: {batch_size: 65537}", 21, "train.batch_size", "<= 65536, got 65537"),
        # "train: {weight_decay: " is 22 characters.
        ("train: {weight_decay: -1}", 23, "train.weight_decay", "expected a number >= 0.0"),
        # "train: {warmup: " is 16 characters.
        ("train: {warmup: 1}", 17, "train.warmup", "expected a number < 1.0, got 1"),
        ("train: {warmup: -0.1}", 17, "train.warmup", "expected a number >= 0.0, got -0.1"),
        # Unknown keys point at the key itself, column 9, with a hint.
        ("train: {lrr: 1}", 9, "train.lrr", "unknown key 'lrr' (did you mean 'lr'?"),
        ("train: {warmup_steps: 10}", 9, "train.warmup_steps", "did you mean 'warmup'?"),
        ("train: 0.1", 8, "train", "wrong type (expected a mapping, got 0.1)"),
    ],
)
def test_bad_train_value(train: str, column: int, key: str, message: str):
    [(line, col, path, text)] = _issues(train + "\n")
    assert (line, col, path) == (4, column, key)
    assert message in text


def test_every_bad_value_of_a_block_section_is_reported():
    train = "train:\n  lr: 0.1\n  epochs: 0\n  warmup: 1.5\n"
    # Lines 5-7; the values after "  epochs: " and "  warmup: " start at column 11.
    got = [(line, col, path) for line, col, path, _ in _issues(train)]
    assert got == [(6, 11, "train.epochs"), (7, 11, "train.warmup")]
    # An unknown key is reported on its own, as in every other section.
    got = [(line, col, path) for line, col, path, _ in _issues(train + "  momentum: 0.9\n")]
    assert got == [(8, 3, "train.momentum")]


def test_a_full_section_loads():
    spec = _spec("train: {lr: 0.5, epochs: 3, batch_size: 4, weight_decay: 0, warmup: 0.25}\n")
    assert spec.train is not None
    assert (spec.train.lr, spec.train.epochs, spec.train.batch_size) == (0.5, 3, 4)
    assert (spec.train.weight_decay, spec.train.warmup) == (0.0, 0.25)


SWEEP = {"lr": 2e-3, "epochs": 10, "batch_size": 16}


def test_without_a_section_the_sweep_decides():
    recipe = resolve_recipe(SweepRecipe(**{**SWEEP, "weight_decay": 0.0}), _spec())
    # weight_decay comes from the sweep (0, not its default); warmup from TrainConfig (5%).
    assert recipe == Recipe(
        lr=2e-3,
        epochs=10,
        batch_size=16,
        weight_decay=0.0,
        warmup_fraction=0.05,
        source=RecipeSources("sweep", "sweep", "sweep", "sweep", "sweep"),
    )
    assert not recipe.needs_lr_search


def test_spec_keys_win_including_zero_values():
    spec = _spec("train: {epochs: 40, weight_decay: 0, warmup: 0}\n")
    recipe = resolve_recipe(SweepRecipe(**{**SWEEP, "weight_decay": 0.05, "warmup": 0.1}), spec)
    assert (recipe.lr, recipe.epochs, recipe.batch_size) == (2e-3, 40, 16)
    assert (recipe.weight_decay, recipe.warmup_fraction) == (0.0, 0.0)
    assert recipe.source == RecipeSources("sweep", "spec", "sweep", "spec", "spec")


def test_auto_lr_waits_for_the_range_test_unless_the_spec_sets_lr():
    auto = resolve_recipe(SweepRecipe(**{**SWEEP, "lr": "auto"}), _spec())
    assert auto.lr is None and auto.source.lr == "auto" and auto.needs_lr_search
    found = auto.with_found_lr(3e-3)
    assert (found.lr, found.source.lr, found.needs_lr_search) == (3e-3, "auto", False)
    pinned = resolve_recipe(SweepRecipe(**{**SWEEP, "lr": "AUTO"}), _spec("train: {lr: 0.01}\n"))
    assert (pinned.lr, pinned.source.lr) == (0.01, "spec")
    with pytest.raises(ValueError, match="comes from the spec, not 'auto'"):
        pinned.with_found_lr(1e-3)


def test_recipe_json_is_flat():
    recipe = resolve_recipe(
        SweepRecipe(**{**SWEEP, "lr": "auto"}), _spec("train: {batch_size: 8}\n")
    )
    assert recipe.with_found_lr(0.02).as_json() == {
        "lr": 0.02,
        "epochs": 10,
        "batch_size": 8,
        "weight_decay": 1e-4,
        "warmup_fraction": 0.05,
        "lr_source": "auto",
        "epochs_source": "sweep",
        "batch_size_source": "spec",
        "weight_decay_source": "sweep",
        "warmup_fraction_source": "sweep",
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lr": -1.0}, "lr must be a finite number > 0 or 'auto', got -1.0"),
        ({"lr": "fast"}, "lr must be a finite number > 0 or 'auto', got 'fast'"),
        ({"lr": float("inf")}, "lr must be a finite number > 0 or 'auto', got inf"),
        ({"epochs": 0}, "epochs must be an integer in 1..10000, got 0"),
        ({"batch_size": True}, "batch_size must be an integer in 1..65536, got True"),
        ({"weight_decay": -0.1}, "weight_decay must be a finite number >= 0, got -0.1"),
        ({"warmup": 1.0}, "warmup must be a fraction in [0, 1), got 1.0"),
    ],
)
def test_bad_sweep_setting(settings: dict, message: str):
    with pytest.raises(ValueError) as info:
        resolve_recipe(SweepRecipe(**{**SWEEP, **settings}), _spec())
    assert str(info.value) == message


def test_a_recipe_without_lr_needs_the_range_test():
    """None is the lr of an ``auto`` recipe only; any other source must give a number."""
    sources = RecipeSources("sweep", "sweep", "sweep", "sweep", "sweep")
    with pytest.raises(ValueError, match=r"^lr is missing \(expected a number > 0 or 'auto'\)$"):
        Recipe(None, 10, 16, 1e-4, 0.05, sources)
