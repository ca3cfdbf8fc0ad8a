"""Where a sweep's jobs run: ``--engine local`` (here, one after the other) or ``ray``.

``bench`` and ``search`` share these options. Ray is an optional extra: it is never
imported here, so ``--help`` and the local engine do not pay for it, and ``--engine ray``
without it is a usage error that says how to install it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from graphspec.cli.options import non_negative, positive

if TYPE_CHECKING:
    from benchmarks.sweep.ray_cluster import RayOptions

ENGINES = ("local", "ray")


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--engine`` and the options of the Ray engine."""
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: run the jobs here, one after the other (default); ray: run them as Ray "
        "tasks, on an embedded local Ray or the cluster at --address (needs "
        "'graphspec[ray]'); this process alone writes the results",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="HOST:PORT",
        help="with --engine ray: the Ray cluster to join (default: $RAY_ADDRESS, else start "
        "an embedded local Ray)",
    )
    p.add_argument(
        "--gpus-per-job",
        type=positive,
        default=None,
        metavar="N",
        help="with --engine ray on CUDA: whole GPUs each job asks for (default 1), so a timed "
        "job never shares its GPU",
    )
    p.add_argument(
        "--cpus-per-job",
        type=positive,
        default=None,
        metavar="N",
        help="with --engine ray: CPUs each job asks for (default: --threads on CPU, else the "
        "largest node's CPUs; 1 on CUDA)",
    )
    p.add_argument(
        "--max-retries",
        type=non_negative,
        default=2,
        metavar="N",
        help="with --engine ray: times a job lost with its worker or node is run again "
        "before it is recorded failed (default 2)",
    )


def check_engine_options(args: argparse.Namespace) -> str | None:
    """Why the engine options cannot run, or None: Ray missing, a GPU index (Ray assigns
    the GPU), or Ray-only options given to the local engine."""
    if args.engine != "ray":
        given = [
            flag
            for flag, value in (
                ("--address", args.address),
                ("--gpus-per-job", args.gpus_per_job),
                ("--cpus-per-job", args.cpus_per_job),
            )
            if value is not None
        ]
        return f"{', '.join(given)} need(s) --engine ray" if given else None
    from benchmarks.sweep.ray_cluster import INSTALL_HINT, ray_installed

    if not ray_installed():
        return INSTALL_HINT
    if args.device is not None and args.device.startswith("cuda:"):
        return (
            f"--device {args.device}: with --engine ray, Ray assigns each job its GPU: "
            "use --device cuda"
        )
    if args.gpus_per_job is not None and not (args.device or "").startswith("cuda"):
        return "--gpus-per-job needs --device cuda"
    return None


def ray_options(args: argparse.Namespace) -> RayOptions | None:
    """The Ray engine's options, or None for the local engine."""
    if args.engine != "ray":
        return None
    from benchmarks.sweep.ray_cluster import RayOptions

    return RayOptions(
        address=args.address,
        gpus_per_job=args.gpus_per_job,
        cpus_per_job=args.cpus_per_job,
        max_retries=args.max_retries,
    )
