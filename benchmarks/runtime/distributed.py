"""Data-parallel helpers: one process per device, launched by ``torchrun``.

Everything here degrades to a no-op when the process was not started by ``torchrun`` (no
``RANK``/``WORLD_SIZE`` in the environment), so the benchmark code calls the same functions
whether it runs on one CPU or eight GPUs. Results must be written by rank 0 only; callers
check :attr:`DistributedContext.is_main`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

__all__ = [
    "DistributedContext",
    "launched_with_peers",
    "init_distributed",
    "wrap_model",
    "make_loader",
    "all_reduce_",
    "broadcast_from_main",
    "gather_objects",
    "barrier",
    "cleanup",
    "current_rank",
    "current_world_size",
]

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in the job; the default is a single, non-distributed process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=_default_device)
    backend: str | None = None
    control: Any = None
    """A gloo group over all ranks for the sweep's own messages (which job runs next, which
    rank failed), kept apart from the default group the gradients use, so a message can
    never be paired with a gradient all-reduce of a rank that is still training."""

    @property
    def is_main(self) -> bool:
        """True on the one process that should log, write files and show progress bars."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when there are peers to synchronise with (collectives are real)."""
        return self.world_size > 1 and dist.is_available() and dist.is_initialized()


def current_rank() -> int:
    """Rank of this process in the default group, 0 when no group is initialised."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def current_world_size() -> int:
    """Size of the default group, 1 when no group is initialised."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def launched_with_peers() -> bool:
    """True when a launcher such as ``torchrun`` started this process with peers to join."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(
    backend: str | None = None, device: torch.device | str | None = None
) -> DistributedContext:
    """Join the ``torchrun`` job described by the environment, or return a no-op context.

    ``backend`` defaults to NCCL when CUDA is available and gloo otherwise. On CUDA each
    process is pinned to ``cuda:LOCAL_RANK`` *before* the group is created, so NCCL never
    places every rank's communicator on GPU 0. ``device`` overrides the device choice (e.g.
    to force CPU + gloo on a GPU machine).
    """
    if not all(var in os.environ for var in _TORCHRUN_VARS):
        return DistributedContext(device=torch.device(device) if device else _default_device())

    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    if device is not None:
        target = torch.device(device)
    elif torch.cuda.is_available():
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device("cpu")
    if target.type == "cuda":
        target = torch.device("cuda", local_rank if target.index is None else target.index)
        torch.cuda.set_device(target)
    if backend is None:
        backend = "nccl" if target.type == "cuda" else "gloo"

    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend, init_method="env://", rank=rank, world_size=world_size
        )
    control = dist.new_group(backend="gloo")
    return DistributedContext(
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        device=target,
        backend=backend,
        control=control,
    )


def wrap_model(
    model: nn.Module,
    ctx: DistributedContext,
    channels_last: bool = False,
    find_unused_parameters: bool = False,
) -> nn.Module:
    """Move ``model`` to the context's device and wrap it in DDP when there are peers.

    The memory-format change happens here, before wrapping, because DDP lays its gradient
    buckets out from the parameters it sees at construction; converting afterwards would
    desynchronise them. DDP also broadcasts rank 0's weights, so ranks start identical even
    if each initialised the model with a different seed. Compile *after* wrapping.
    """
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    model = model.to(device=ctx.device, memory_format=memory_format)
    if not ctx.is_distributed:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(
        model, device_ids=device_ids, find_unused_parameters=find_unused_parameters
    )


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    ctx: DistributedContext,
    workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A loader over this rank's shard; ``batch_size`` is per rank (global = x world_size).

    With peers, a :class:`DistributedSampler` splits the data (padding by repetition when
    the length is not divisible by the world size, which slightly biases eval metrics, so
    size eval sets accordingly); ``train`` calls its ``set_epoch`` so every epoch reshuffles
    identically on all ranks. Alone, shuffling uses a generator seeded with ``seed`` so a
    run is reproducible without touching the global RNG.
    """
    common: dict[str, Any] = {
        "batch_size": batch_size,
        "num_workers": workers,
        "collate_fn": collate_fn,
        "pin_memory": ctx.device.type == "cuda",
        "drop_last": drop_last,
        "persistent_workers": workers > 0,
    }
    if ctx.world_size > 1:
        sampler = DistributedSampler(
            dataset,
            num_replicas=ctx.world_size,
            rank=ctx.rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        return DataLoader(dataset, sampler=sampler, **common)
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, shuffle=shuffle, generator=generator, **common)


def all_reduce_(
    tensors: Sequence[Tensor],
    ctx: DistributedContext | None = None,
    op: dist.ReduceOp.RedOpType = dist.ReduceOp.SUM,
) -> Sequence[Tensor]:
    """Reduce ``tensors`` in place across ranks (sum by default); a no-op without peers.

    With ``ctx=None`` the default process group decides, which lets library code (such as
    ``evaluate``) reduce without being handed a context.
    """
    active = ctx.is_distributed if ctx is not None else current_world_size() > 1
    if active:
        for tensor in tensors:
            dist.all_reduce(tensor, op=op)
    return tensors


def broadcast_from_main(value: Any, ctx: DistributedContext) -> Any:
    """Rank 0's ``value`` on every rank (any picklable object); ``value`` itself alone."""
    if not ctx.is_distributed:
        return value
    box = [value if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0, group=ctx.control)
    return box[0]


def gather_objects(value: Any, ctx: DistributedContext) -> list[Any]:
    """Every rank's ``value``, indexed by rank, on every rank; ``[value]`` alone."""
    if not ctx.is_distributed:
        return [value]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, value, group=ctx.control)
    return gathered


def barrier(ctx: DistributedContext) -> None:
    """Wait for every rank (e.g. before rank 0 reads what others produced)."""
    if not ctx.is_distributed:
        return
    if ctx.backend == "nccl":
        dist.barrier(device_ids=[ctx.device.index])
    else:
        dist.barrier()


def cleanup() -> None:
    """Tear down the process group if one exists (safe to call unconditionally)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
