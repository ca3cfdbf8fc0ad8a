"""What a sweep will run: jobs (spec file x settings), their stable keys, and shards.

A job's key hashes the spec bytes and the settings, so an edited spec or a changed setting is
a new job while an unchanged one is recognised on resume; :func:`select_shard` splits one
plan over several processes or machines that all compute the same plan.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.store.jobs import Job

__all__ = ["expand_seeds", "plan_jobs", "parse_shard", "select_shard"]


def expand_seeds(settings: Mapping[str, Any], seeds: int) -> list[dict[str, Any]]:
    """``seeds`` copies of ``settings`` with seeds ``seed0, seed0 + 1, ...``.

    ``seed0`` is the settings' own ``seed`` (0 when absent). Each copy carries its own seed,
    so every seed is a job of its own key: resume skips or re-runs seeds one by one. With
    ``seeds=1`` the settings come back unchanged, so a single-seed plan keeps the keys it
    had before seeds existed.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    if seeds == 1:
        return [dict(settings)]
    seed0 = settings.get("seed", 0)
    if isinstance(seed0, bool) or not isinstance(seed0, int):
        raise ValueError(f"seed must be an integer to expand over seeds, got {seed0!r}")
    return [{**settings, "seed": seed0 + offset} for offset in range(seeds)]


def plan_jobs(
    spec_files: Iterable[str | Path],
    settings_list: Iterable[Mapping[str, Any]],
    *,
    seeds: int = 1,
) -> list[Job]:
    """Cartesian product spec x settings x seed, spec-major, in the given order.

    ``seeds`` expands every settings dict over that many consecutive seeds
    (:func:`expand_seeds`), so one spec's seeds are neighbours in the plan. Exact duplicates
    (same key: same file bytes, name and settings) are dropped, keeping the first, because
    they would write the same results row.
    """
    settings_seq = [s for base in settings_list for s in expand_seeds(base, seeds)]
    jobs: list[Job] = []
    seen: set[str] = set()
    for spec_file, settings in itertools.product(list(spec_files), settings_seq):
        job = Job(Path(spec_file), settings)
        if job.key not in seen:
            seen.add(job.key)
            jobs.append(job)
    return jobs


_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(shard: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n) with 0 <= i < n; ValueError that says what is wrong otherwise."""
    match = _SHARD_RE.match(shard)
    if match is None:
        raise ValueError(f"bad shard {shard!r}: expected 'i/n' with integers, e.g. '0/4'")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ValueError(f"bad shard {shard!r}: the shard count n must be at least 1")
    if index >= count:
        raise ValueError(
            f"bad shard {shard!r}: the index i is 0-based and must be below n={count} "
            f"(valid: 0/{count} .. {count - 1}/{count})"
        )
    return index, count


def select_shard(jobs: Sequence[Job], shard: str) -> list[Job]:
    """Every n-th job starting at i: shards 0..n-1 partition the plan (round-robin, so each
    shard gets a mix of specs rather than one shard getting all the big ones)."""
    index, count = parse_shard(shard)
    return list(jobs[index::count])
