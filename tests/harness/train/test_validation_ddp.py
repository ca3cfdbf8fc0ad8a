"""Validation under DDP: two gloo ranks see one metric, so they stop at the same epoch."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from benchmarks.runtime.distributed import (
    barrier,
    cleanup,
    init_distributed,
    make_loader,
    wrap_model,
)
from benchmarks.tasks.segmentation import SegmentationTask
from benchmarks.train.loop import TrainConfig, Validation, evaluate, train
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
from tests.harness.toys import collate

EPOCHS = 6


def worker(rank: int, port: int, out_dir: str) -> None:
    """One rank: train with validation on its shard of the validation set; save the result."""
    join_as_rank(rank, port)
    ctx = init_distributed()
    try:
        torch.manual_seed(0)
        model = wrap_model(make_model(), ctx)
        loader = make_loader(train_set(), BATCH, shuffle=True, ctx=ctx, collate_fn=collate)
        val_loader = make_loader(eval_set(), BATCH, shuffle=False, ctx=ctx, collate_fn=collate)
        config = TrainConfig(epochs=EPOCHS, lr=0.05, warmup_steps=1, device="cpu", progress=False)
        validation = Validation(val_loader, patience=2, metric="pixel_acc")
        result = train(model, SegmentationTask(2), loader, config, validation)
        shard = [i for batch in val_loader for i in batch["image_id"]]
        torch.save({"result": result, "shard": shard}, Path(out_dir) / f"{rank}.pt")
        barrier(ctx)  # tear down together: gloo can hang if one rank is already gone
    finally:
        cleanup()


@pytest.mark.slow
def test_ranks_agree_on_validation_best_epoch_and_stop(tmp_path: Path) -> None:
    processes = mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=False)
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while not processes.join(timeout=5):
        if time.monotonic() > deadline:
            for process in processes.processes:
                process.kill()
            pytest.fail(f"DDP workers did not finish within {JOIN_TIMEOUT_S} s")
    rank0, rank1 = (torch.load(tmp_path / f"{r}.pt", weights_only=False) for r in (0, 1))
    assert not set(rank0["shard"]) & set(rank1["shard"])  # each rank scores a different half

    first, second = rank0["result"], rank1["result"]
    assert [r.val_metric for r in first.history] == [r.val_metric for r in second.history]
    assert (first.epochs_run, first.stopped_early) == (second.epochs_run, second.stopped_early)
    assert (first.best_epoch, first.best_metric) == (second.best_epoch, second.best_metric)
    for key, value in first.best_state.items():
        assert torch.equal(value, second.best_state[key]), key

    # The agreed metric is the whole-set metric: one process on all 12 images, best weights.
    single = make_model()
    single.load_state_dict(first.best_state)
    whole = DataLoader(eval_set(), batch_size=BATCH, collate_fn=collate)
    expected = evaluate(single, SegmentationTask(2), whole, device="cpu")["pixel_acc"]
    assert first.best_metric == pytest.approx(expected, abs=1e-12)
