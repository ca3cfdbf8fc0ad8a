"""The options ``bench`` and ``demo`` share: data, training recipe, protocol, output.

argparse checks each value's form; :func:`check_run_options` then checks what needs the
machine, the disk or the specs (is the device there, does the data open, can ``--out`` be a
folder, does every spec build at ``--image-size``), so every option is refused before the
first job starts rather than as a failed row per job. :func:`check_device`,
:func:`check_data` and :func:`check_normalize` are the same checks for ``val``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.store.settings import JobSettings
from graphspec.cli.engine_options import check_engine_options
from graphspec.cli.inputs import output_dir
from graphspec.cli.options import (
    add_format_option,
    device_name,
    image_size,
    learning_rate,
    non_negative,
    positive,
)

if TYPE_CHECKING:
    from graphspec import Spec


def add_run_options(p: argparse.ArgumentParser, defaults: JobSettings, seeds: int = 1) -> None:
    """The options shared by ``bench`` and ``demo``, each defaulting to ``defaults``
    (bench: :data:`~benchmarks.store.settings.DEFAULT_SETTINGS`)."""
    p.add_argument(
        "--data",
        default=defaults.data,
        help="shapes (the built-in synthetic data) | voc:PATH | coco:PATH",
    )
    p.add_argument(
        "--epochs",
        type=positive,
        default=defaults.epochs,
        help="maximum epochs per spec (a spec's train.epochs wins)",
    )
    p.add_argument(
        "--batch-size",
        type=positive,
        default=defaults.batch_size,
        help="training batch size (a spec's train.batch_size wins)",
    )
    p.add_argument(
        "--image-size",
        type=image_size,
        default=defaults.image_size,
        metavar="HxW",
        help="train/evaluate at this size (default: the spec's input size)",
    )
    p.add_argument("--seed", type=int, default=defaults.seed, help="the first seed (see --seeds)")
    p.add_argument(
        "--device",
        type=device_name,
        default=None,
        help="cpu | cuda | cuda:N | mps; it must exist on this machine "
        "(default: cuda when available, else cpu)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile each model")
    p.add_argument(
        "--workers",
        type=non_negative,
        default=defaults.workers,
        help="DataLoader worker processes (0: none)",
    )
    p.add_argument(
        "--limit",
        type=positive,
        default=defaults.limit,
        metavar="N",
        help="use at most N training images (quick checks)",
    )
    p.add_argument(
        "--lr",
        type=learning_rate,
        default=defaults.lr,
        help="AdamW peak learning rate, or 'auto' for a learning-rate range test per spec "
        "(a spec's train.lr wins)",
    )
    _add_protocol_options(p, defaults, seeds)


def _add_protocol_options(p: argparse.ArgumentParser, defaults: JobSettings, seeds: int) -> None:
    """Seeds, validation, early stopping, input pipeline, threads and output."""
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars, phase or per-job lines; a failed job still prints one line "
        "(stderr)",
    )
    add_format_option(
        p, "the finished rows' key facts, the counts and the report's path, at the end"
    )
    p.add_argument(
        "--allow-noisy",
        action="store_true",
        help="let rows whose timing was flagged noisy onto the report's latency frontiers",
    )
    p.add_argument(
        "--seeds",
        type=positive,
        default=seeds,
        metavar="N",
        help="train each spec with N seeds (--seed, --seed+1, ...)",
    )
    p.add_argument(
        "--val-every",
        type=positive,
        default=defaults.val_every,
        metavar="K",
        help="evaluate on the validation split every K epochs",
    )
    p.add_argument(
        "--patience",
        type=positive,
        default=defaults.patience,
        metavar="N",
        help="stop a spec early after N validations without improvement (default: off)",
    )
    p.add_argument(
        "--normalize",
        default=defaults.normalize,
        metavar="MODE",
        help="input normalisation: dataset (per-dataset mean/std) | imagenet | none | "
        "m1,m2,m3/s1,s2,s3",
    )
    p.add_argument(
        "--no-augment", action="store_true", help="no random flips of the training images"
    )
    p.add_argument(
        "--threads",
        type=positive,
        default=defaults.threads,
        metavar="N",
        help="intra-op threads for training and timing (default: torch's default)",
    )


def check_run_options(args: argparse.Namespace, files: Sequence[Path]) -> str | None:
    """Why the parsed options cannot run on this machine with these ``files``, or None.

    Called before any job starts, so that a wrong option is a usage error (exit 2) and not
    one failed row per job: the shard (``i/n``), ``--out`` (not a file), the engine (is Ray
    installed?), the device (is it there? Not with ``--engine ray``: the cluster's resources
    are checked before the first job is submitted), the data (does it open?), the
    normalisation and the image size (does every spec build at it?).
    """
    from benchmarks.sweep.plan import parse_shard

    if args.device is None:  # resolved here, not in the parser: torch loads in 1-2 s
        args.device = _default_device()
    if getattr(args, "shard", None):
        try:
            parse_shard(args.shard)
        except ValueError as exc:
            return str(exc)
    output_dir(args.out)
    on_ray = getattr(args, "engine", "local") == "ray"  # the cluster's devices, not ours
    return (
        (check_engine_options(args) if hasattr(args, "engine") else None)
        or (None if on_ray else check_device(args.device))
        or check_data(args.data)
        or check_normalize(args.normalize, args.data)
        or _check_size(args, files)
    )


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str) -> str | None:
    """Whether ``device`` (already of the form cpu / cuda / cuda:N / mps) exists here."""
    import torch

    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if count == 0:
            return f"--device {device}: CUDA is not available on this machine (try --device cpu)"
        if index >= count:
            return (
                f"--device {device}: this machine has {count} CUDA device(s), "
                f"cuda:0..cuda:{count - 1}"
            )
    if device == "mps" and not torch.backends.mps.is_available():
        return "--device mps: MPS is not available on this machine (try --device cpu)"
    return None


def check_data(source: str) -> str | None:
    """Why ``--data`` cannot be read (an unknown source; a VOC or COCO folder that is
    missing, incomplete or unreadable), or None. Its test split is opened as every job
    opens it, so a source that fails here would fail every job."""
    from benchmarks.data import DataError, make_dataset

    try:
        make_dataset(source, "test", (32, 32))
    except DataError as exc:
        return f"--data {source}: {exc}"
    return None


def check_normalize(normalize: str, data: str) -> str | None:
    """A ``--normalize`` value the data step would refuse (``dataset`` is always fine)."""
    from benchmarks.data.normalize import parse_normalization

    if normalize.strip().lower() == "dataset":
        return None
    try:
        parse_normalization(normalize, data)
    except ValueError as exc:
        return str(exc)
    return None


def _check_size(args: argparse.Namespace, files: Sequence[Path]) -> str | None:
    """The first spec that does not build at ``--image-size``, and why.

    A spec that does not build at its own size either is left to its job, which records
    that failure as the spec's own problem (it is not the option's fault).
    """
    if args.image_size is None:
        return None
    from compiler import compile_graph
    from graphspec import SpecError, load_spec

    height, width = args.image_size
    for file in files:
        try:
            spec = load_spec(file)
        except SpecError:
            continue
        try:
            compile_graph(spec.with_input_size((height, width)))
        except SpecError as err:
            if _builds(spec):
                own = f"{spec.input.height}x{spec.input.width}"
                reason = re.sub(r"\s+", " ", err.first.message)
                return (
                    f"--image-size {height}x{width}: {file} does not build at that size "
                    f"({reason}; it builds at its own {own})"
                )
    return None


def _builds(spec: Spec) -> bool:
    """Whether ``spec`` compiles at its own input size."""
    from compiler import compile_graph
    from graphspec import SpecError

    try:
        compile_graph(spec)
    except SpecError:
        return False
    return True
