"""DDP tests: two CPU processes on gloo, compared against single-process references."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from benchmarks.runtime.distributed import (
    DistributedContext,
    all_reduce_,
    barrier,
    cleanup,
    init_distributed,
    make_loader,
    wrap_model,
)
from benchmarks.tasks.segmentation import SegmentationTask
from benchmarks.train.loop import TrainConfig, evaluate, train
from tests.harness.runtime.ranks import (
    BATCH,
    JOIN_TIMEOUT_S,
    WORLD_SIZE,
    eval_set,
    free_port,
    join_as_rank,
    make_model,
    train_set,
)
from tests.harness.toys import BrightnessDataset, collate

EPOCHS = 3
SEED = 7


def config() -> TrainConfig:
    return TrainConfig(epochs=EPOCHS, lr=0.05, warmup_steps=1, device="cpu", progress=False)


def ddp_worker(rank: int, port: int, out_dir: str) -> None:
    """One rank: train with DDP, evaluate its shard, save what the parent checks."""
    join_as_rank(rank, port)
    ctx = init_distributed()
    try:
        # Different init per rank: only DDP's broadcast of rank 0's weights aligns them.
        torch.manual_seed(100 + rank)
        bare = make_model()
        initial = {k: v.detach().clone() for k, v in bare.state_dict().items()}
        model = wrap_model(bare, ctx)
        task = SegmentationTask(2)
        loader = make_loader(
            train_set(), BATCH, shuffle=True, ctx=ctx, collate_fn=collate, seed=SEED
        )
        result = train(model, task, loader, config())
        eval_loader = make_loader(eval_set(), BATCH, shuffle=False, ctx=ctx, collate_fn=collate)
        metrics = evaluate(model, task, eval_loader, device=ctx.device)
        record = {
            "ctx": (ctx.rank, ctx.world_size, ctx.local_rank, ctx.backend, ctx.is_main),
            "initial": initial,
            "final": model.module.state_dict(),
            "losses": result.loss_history,
            "metrics": metrics,
            "shard_ids": [i for batch in eval_loader for i in batch["image_id"]],
            "sampler_epoch": loader.sampler.epoch,
        }
        torch.save(record, Path(out_dir) / f"rank{rank}.pt")
        if ctx.is_main:
            (Path(out_dir) / f"results_rank{rank}.json").write_text(json.dumps(metrics))
        barrier(ctx)
    finally:
        cleanup()


def run_ranks(out_dir: Path) -> list[dict[str, Any]]:
    processes = mp.spawn(
        ddp_worker, args=(free_port(), str(out_dir)), nprocs=WORLD_SIZE, join=False
    )
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while not processes.join(timeout=5):
        if time.monotonic() > deadline:
            for process in processes.processes:
                process.kill()
            pytest.fail(f"DDP workers did not finish within {JOIN_TIMEOUT_S} s")
    return [torch.load(out_dir / f"rank{r}.pt") for r in range(WORLD_SIZE)]


def reference_batches(epoch: int) -> list[list[int]]:
    """Global batches of the DDP run: batch k is the union of every rank's k-th batch."""
    dataset_size = len(train_set())
    per_rank = []
    for rank in range(WORLD_SIZE):
        sampler = DistributedSampler(
            range(dataset_size), num_replicas=WORLD_SIZE, rank=rank, shuffle=True, seed=SEED
        )
        sampler.set_epoch(epoch)
        indices = list(sampler)
        per_rank.append([indices[i : i + BATCH] for i in range(0, len(indices), BATCH)])
    return [sum(parts, []) for parts in zip(*per_rank, strict=True)]


class EpochBatches:
    """A loader replaying precomputed index batches, one list per epoch (set_epoch-driven)."""

    def __init__(self, dataset: BrightnessDataset, epochs: int) -> None:
        self.dataset = dataset
        self.batches = [reference_batches(epoch) for epoch in range(epochs)]
        self.sampler = self  # train() looks for loader.sampler.set_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.batches[0])

    def __iter__(self) -> Any:
        for indices in self.batches[self.epoch]:
            yield collate([self.dataset[i] for i in indices])


@pytest.mark.slow
def test_ddp_two_cpu_ranks_match_single_process(tmp_path: Path) -> None:
    rank0, rank1 = run_ranks(tmp_path)

    assert rank0["ctx"] == (0, 2, 0, "gloo", True)
    assert rank1["ctx"] == (1, 2, 1, "gloo", False)
    assert rank0["sampler_epoch"] == rank1["sampler_epoch"] == EPOCHS - 1

    # Ranks started from different weights, were synced by DDP, trained, and stayed equal.
    assert any(not torch.equal(rank0["initial"][k], rank1["initial"][k]) for k in rank0["initial"])
    for name, value in rank0["final"].items():
        assert torch.equal(value, rank1["final"][name]), name
        assert not torch.equal(value, rank0["initial"][name]), f"{name} never updated"
    assert rank0["losses"] == rank1["losses"]  # logged loss is the all-reduced mean

    # DDP averages per-rank gradients; with equal labelled pixels per rank that is the
    # gradient of the union batch, so one process on the union batches reaches the same
    # weights from rank 0's initial ones.
    reference = make_model()
    reference.load_state_dict(rank0["initial"])
    torch.set_num_threads(1)
    train(reference, SegmentationTask(2), EpochBatches(train_set(), EPOCHS), config())
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(rank0["final"][name], value, rtol=1e-4, atol=1e-5)

    # Eval shards are disjoint halves, and the all-reduced metrics equal one process over
    # the whole eval set with the same weights.
    shard0, shard1 = set(rank0["shard_ids"]), set(rank1["shard_ids"])
    assert not shard0 & shard1
    assert shard0 | shard1 == set(range(len(eval_set())))
    assert len(shard0) == len(shard1) == len(eval_set()) // 2

    single = make_model()
    single.load_state_dict(rank0["final"])
    loader = DataLoader(eval_set(), batch_size=BATCH, collate_fn=collate)
    expected = evaluate(single, SegmentationTask(2), loader, device="cpu")
    assert rank0["metrics"] == expected
    assert rank1["metrics"] == expected

    # Only rank 0 wrote results.
    written = sorted(p.name for p in tmp_path.glob("results_*.json"))
    assert written == ["results_rank0.json"]
    assert json.loads((tmp_path / "results_rank0.json").read_text()) == expected


def test_without_torchrun_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ctx = init_distributed(device="cpu")
    assert ctx == DistributedContext(device=torch.device("cpu"))
    assert ctx.is_main and not ctx.is_distributed

    model = make_model()
    assert wrap_model(model, ctx) is model

    tensor = torch.tensor([1.0, 2.0])
    all_reduce_([tensor], ctx)
    assert tensor.tolist() == [1.0, 2.0]
    barrier(ctx)
    cleanup()

    loader = make_loader(train_set(), 4, shuffle=True, ctx=ctx, collate_fn=collate, seed=3)
    assert isinstance(loader.sampler, RandomSampler)
    again = make_loader(train_set(), 4, shuffle=True, ctx=ctx, collate_fn=collate, seed=3)
    first = [batch["image_id"] for batch in loader]
    assert first == [batch["image_id"] for batch in again]  # seeded shuffling
    assert sorted(sum(first, [])) == list(range(len(train_set())))


def test_make_loader_shards_with_distributed_sampler() -> None:
    """Building the loader needs no process group; the context alone decides the shard."""
    ctx = DistributedContext(rank=1, world_size=2, device=torch.device("cpu"))
    loader = make_loader(eval_set(), 4, shuffle=False, ctx=ctx, collate_fn=collate)
    assert isinstance(loader.sampler, DistributedSampler)
    assert [i for batch in loader for i in batch["image_id"]] == list(range(1, 12, 2))
