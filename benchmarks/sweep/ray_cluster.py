"""The Ray cluster a sweep runs on: connecting to it, and what each job asks of it.

Ray is an optional extra (``pip install 'graphspec[ray]'``): it is imported only here and in
:mod:`benchmarks.sweep.ray_engine`, inside functions, so the plain engine never pays for it.

A job asks for whole devices (:func:`job_demand`): one GPU by default on CUDA, so a timed
job never shares its GPU; on CPU the ``--threads`` it trains with, else every CPU of the
largest node, so a CPU job is timed alone as in a plain sweep. Ray does not refuse a task
that no node can run, it waits forever (``../shared/design/scaling.md``): :func:`job_slots`
checks the demand against every alive node before anything is submitted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from benchmarks.store.settings import JobSettings

__all__ = [
    "INSTALL_HINT",
    "ClusterError",
    "Demand",
    "RayOptions",
    "connect",
    "job_demand",
    "job_slots",
    "ray_installed",
    "ray_session",
]

INSTALL_HINT = "--engine ray needs Ray: pip install 'graphspec[ray]'"
EMBEDDED_OBJECT_STORE = 256 * 2**20
"""Bytes of shared memory an embedded Ray reserves for results (Ray's default is 30 % of
RAM; a job sends back one row and its files, a few MB)."""


class ClusterError(ValueError):
    """The Ray cluster cannot run this sweep (unreachable, or no node fits a job): one line,
    a usage error before anything is submitted."""


@dataclass(frozen=True)
class RayOptions:
    """How ``--engine ray`` runs: where (``address`` None: ``RAY_ADDRESS``, else an embedded
    local Ray), what each job asks for (None: :func:`job_demand`'s defaults) and how often a
    task lost with its worker or node is run again."""

    address: str | None = None
    gpus_per_job: int | None = None
    cpus_per_job: int | None = None
    max_retries: int = 2


@dataclass(frozen=True)
class Demand:
    """What one job asks of a node."""

    cpus: int
    gpus: int

    def describe(self) -> str:
        gpus = f", {self.gpus} GPU{'s' if self.gpus != 1 else ''}" if self.gpus else ""
        return f"{self.cpus} CPU{'s' if self.cpus != 1 else ''}{gpus}"


def ray_installed() -> bool:
    """Whether ``import ray`` would work (without paying for the import)."""
    return importlib.util.find_spec("ray") is not None


def connect(options: RayOptions) -> bool:
    """Join the cluster at ``options.address`` (or ``RAY_ADDRESS``), else start an embedded
    local Ray on this machine's CPUs and GPUs; returns whether this call started it (then the
    caller shuts it down). An unreachable address is a :class:`ClusterError`."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file for a local head
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return False
    address = options.address or os.environ.get("RAY_ADDRESS")
    quiet: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, logging_level="WARNING", **quiet)
        else:
            ray.init(object_store_memory=EMBEDDED_OBJECT_STORE, logging_level="ERROR", **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address}" if address else "on this machine"
        raise ClusterError(f"cannot start or join Ray {where}: {exc}") from None
    return True


@contextlib.contextmanager
def ray_session(options: RayOptions) -> Iterator[None]:
    """Connected to Ray for the block (:func:`connect`); a Ray this call started is shut
    down after it, one it joined is left running. A search holds one session over all its
    rounds, so each round's sweep joins it instead of starting a Ray of its own."""
    started = connect(options)
    try:
        yield
    finally:
        if started:
            import ray

            ray.shutdown()


def _nodes() -> list[dict[str, float]]:
    """The resources of every alive node of the connected cluster."""
    import ray

    return [dict(node.get("Resources", {})) for node in ray.nodes() if node.get("Alive")]


def job_demand(settings: JobSettings, options: RayOptions) -> Demand:
    """What each job of a sweep under ``settings`` asks for (see the module docstring)."""
    on_gpu = settings.device.startswith("cuda")
    gpus = (options.gpus_per_job if options.gpus_per_job is not None else 1) if on_gpu else 0
    if options.cpus_per_job is not None:
        cpus = options.cpus_per_job
    elif settings.threads is not None:
        cpus = settings.threads
    elif on_gpu:
        cpus = 1
    else:
        cpus = max((int(node.get("CPU", 0)) for node in _nodes()), default=1)
    return Demand(cpus=max(1, cpus), gpus=gpus)


def _fits(node: dict[str, float], demand: Demand) -> int:
    """How many jobs of ``demand`` one node runs at once."""
    by_cpu = int(node.get("CPU", 0) // demand.cpus)
    by_gpu = int(node.get("GPU", 0) // demand.gpus) if demand.gpus else math.inf
    return int(min(by_cpu, by_gpu))


def job_slots(demand: Demand) -> int:
    """How many jobs of ``demand`` the cluster runs at once; a :class:`ClusterError` naming
    what the nodes have when no node can run one (Ray would wait forever)."""
    nodes = _nodes()
    slots = sum(_fits(node, demand) for node in nodes)
    if slots:
        return slots
    have = "; ".join(
        f"{int(node.get('CPU', 0))} CPUs, {int(node.get('GPU', 0))} GPUs" for node in nodes
    )
    raise ClusterError(
        f"no node of the Ray cluster can run a job that asks for {demand.describe()} "
        f"(its nodes have: {have or 'none alive'}); lower --gpus-per-job / --cpus-per-job or "
        "add a node that has them"
    )
