"""Spawned processes that join as the ranks of a CPU (gloo) process group, as torchrun
would start them; shared by the DDP tests of the runtime, train and sweep rooms."""

from __future__ import annotations

import os
import socket

import torch
from torch import nn

from tests.harness.toys import BrightnessDataset

WORLD_SIZE = 2
BATCH = 4  # per rank
JOIN_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def join_as_rank(rank: int, port: int) -> None:
    """Make this spawned process rank ``rank`` of WORLD_SIZE as torchrun would (its
    environment variables), on one intra-op thread."""
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)


def train_set() -> BrightnessDataset:
    return BrightnessDataset(16, size=8, seed=1)  # 2 ranks x 2 batches x 4 images


def eval_set() -> BrightnessDataset:
    return BrightnessDataset(12, size=8, seed=2)  # divisible by 2: shards do not overlap


def make_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1))
