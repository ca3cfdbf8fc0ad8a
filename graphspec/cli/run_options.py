"""The options ``bench`` and ``demo`` share: data, training recipe, protocol, output."""

from __future__ import annotations

import argparse

from graphspec.cli.options import image_size, learning_rate, positive


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch import problems surface elsewhere
        return False


def add_run_options(
    p: argparse.ArgumentParser, epochs: int, batch: int, lr: float = 2e-3, seeds: int = 1
) -> None:
    """The options shared by ``bench`` and ``demo``: data, training, protocol, output."""
    p.add_argument(
        "--data",
        default="shapes",
        help="shapes (the built-in synthetic data) | voc:PATH | coco:PATH",
    )
    p.add_argument(
        "--epochs",
        type=positive,
        default=epochs,
        help="maximum epochs per spec (a spec's train.epochs wins)",
    )
    p.add_argument(
        "--batch-size",
        type=positive,
        default=batch,
        help="training batch size (a spec's train.batch_size wins)",
    )
    p.add_argument(
        "--image-size",
        type=image_size,
        default=None,
        metavar="HxW",
        help="train/evaluate at this size (default: the spec's input size)",
    )
    p.add_argument("--seed", type=int, default=0, help="the first seed (see --seeds)")
    p.add_argument(
        "--device",
        default="cuda" if _cuda() else "cpu",
        choices=("cpu", "cuda"),
        help="cuda when available, else cpu (here: %(default)s)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile each model")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument(
        "--limit",
        type=positive,
        default=None,
        metavar="N",
        help="use at most N training images (quick checks)",
    )
    p.add_argument(
        "--lr",
        type=learning_rate,
        default=lr,
        help="AdamW peak learning rate, or 'auto' for a learning-rate range test per spec "
        "(a spec's train.lr wins)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-job lines")
    _add_protocol_options(p, seeds)


def _add_protocol_options(p: argparse.ArgumentParser, seeds: int) -> None:
    """Seeds, validation, early stopping, input pipeline and threads."""
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
        default=1,
        metavar="K",
        help="evaluate on the validation split every K epochs",
    )
    p.add_argument(
        "--patience",
        type=positive,
        default=None,
        metavar="N",
        help="stop a spec early after N validations without improvement (default: off)",
    )
    p.add_argument(
        "--normalize",
        default="dataset",
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
        default=None,
        metavar="N",
        help="intra-op threads for training and timing (default: torch's default)",
    )
