"""plan_jobs with seeds: one job per seed, each with its own seed, key and folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.store.jobs import Job
from benchmarks.sweep.plan import expand_seeds, plan_jobs


def _specs(tmp_path: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"name: {name}\n", encoding="utf-8")
        paths.append(path)
    return paths


def test_seeds_expand_each_spec_and_settings(tmp_path: Path) -> None:
    a, b = _specs(tmp_path, "a", "b")
    jobs = plan_jobs([a, b], [{"seed": 5, "epochs": 1}], seeds=3)
    assert [(j.name, j.settings["seed"]) for j in jobs] == [
        ("a", 5),
        ("a", 6),
        ("a", 7),
        ("b", 5),
        ("b", 6),
        ("b", 7),
    ]
    assert all(j.settings["epochs"] == 1 for j in jobs)
    assert len({j.key for j in jobs}) == 6
    assert len({j.dir_name for j in jobs}) == 6
    # Each job's key is the key of its own settings, so resume works seed by seed.
    assert jobs[1].key == Job(a, {"seed": 6, "epochs": 1}).key


def test_one_seed_keeps_the_keys_of_a_plan_without_seeds(tmp_path: Path) -> None:
    (a,) = _specs(tmp_path, "a")
    jobs = plan_jobs([a], [{"epochs": 2}], seeds=1)
    assert [j.settings for j in jobs] == [{"epochs": 2}]
    assert jobs[0].key == Job(a, {"epochs": 2}).key


def test_settings_without_a_seed_start_at_zero() -> None:
    assert expand_seeds({"epochs": 1}, 2) == [{"epochs": 1, "seed": 0}, {"epochs": 1, "seed": 1}]


def test_several_settings_each_get_their_seeds(tmp_path: Path) -> None:
    (a,) = _specs(tmp_path, "a")
    jobs = plan_jobs([a], [{"seed": 0, "lr": 1.0}, {"seed": 0, "lr": 2.0}], seeds=2)
    assert [(j.settings["lr"], j.settings["seed"]) for j in jobs] == [
        (1.0, 0),
        (1.0, 1),
        (2.0, 0),
        (2.0, 1),
    ]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_seed_counts_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="seeds must be a positive integer"):
        expand_seeds({"seed": 0}, bad)  # type: ignore[arg-type]


def test_a_non_integer_seed_cannot_be_expanded() -> None:
    with pytest.raises(ValueError, match="seed must be an integer"):
        expand_seeds({"seed": "x"}, 2)
