"""The seed lecture's max-unpooling example, worked by hand.

Encoder input X (3x3), a 2x2 max-pool with stride 1 (overlapping windows):

    X = 120 150 120      windows: top-left  {120,150,100, 50} -> 150 at (0,1)
        100  50 110               top-right {150,120, 50,110} -> 150 at (0,1)
         25  25  10               bot-left  {100, 50, 25, 25} -> 100 at (1,0)
                                  bot-right { 50,110, 25, 10} -> 110 at (1,2)

so the pooled map is [[150,150],[100,110]] and both top windows picked (0,1). Unpooling
the decoder values [[300,450],[100,250]] with those indices puts 300 and 450 on the same
spot; the compiler's unpool sums them: [[0,750,0],[100,0,250],[0,0,0]].
"""

from __future__ import annotations

import textwrap

import torch
import torch.nn.functional as F

from compiler import compile_graph, compile_spec
from compiler.ops import MaxPoolWithIndices, MaxUnpool, max_unpool2d
from graphspec import load_spec
from graphspec.ops import MaxUnpool as MaxUnpoolOp

X = [[120.0, 150.0, 120.0], [100.0, 50.0, 110.0], [25.0, 25.0, 10.0]]
POOLED = [[150.0, 150.0], [100.0, 110.0]]
ARGMAX = [[1, 1], [3, 5]]  # row-major flat positions in the 3x3 input: (0,1) (0,1) (1,0) (1,2)
DECODER_IN = [[300.0, 450.0], [100.0, 250.0]]
UNPOOLED = [[0.0, 750.0, 0.0], [100.0, 0.0, 250.0], [0.0, 0.0, 0.0]]
# Unpooling the pooled map itself: 150 + 150 land on (0,1).
UNPOOLED_POOLED = [[0.0, 300.0, 0.0], [100.0, 0.0, 110.0], [0.0, 0.0, 0.0]]

SPEC = textwrap.dedent(
    """
    name: unpool-seed
    task: segmentation
    input: {channels: 1, height: 3, width: 3}
    classes: 1
    encoder:
      - stage: s
        layers:
          - {op: maxpool, kernel: 2, stride: 1, name: pool}
    decoder: {upsample: unpool}
    head: {type: segmentation}
    """
)


def _map(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows).view(1, 1, len(rows), len(rows[0]))


def _pool_indices() -> torch.Tensor:
    _, indices = F.max_pool2d(_map(X), 2, stride=1, return_indices=True)
    return indices


def test_pool_gives_hand_worked_values_and_indices() -> None:
    pooled, indices = MaxPoolWithIndices(2, stride=1)(_map(X))
    assert pooled.tolist() == [[POOLED]]
    assert indices.tolist() == [[ARGMAX]]
    ref, ref_indices = F.max_pool2d(_map(X), 2, stride=1, return_indices=True)
    assert torch.equal(pooled, ref)
    assert torch.equal(indices, ref_indices)


def test_unpool_sums_values_routed_to_the_same_position() -> None:
    indices = _pool_indices()
    out = max_unpool2d(_map(DECODER_IN), indices, output_size=(3, 3))
    assert out.tolist() == [[UNPOOLED]]
    assert MaxUnpool((3, 3))(_map(DECODER_IN), indices).tolist() == [[UNPOOLED]]
    assert max_unpool2d(_map(POOLED), indices, output_size=(3, 3)).tolist() == [[UNPOOLED_POOLED]]


def test_torch_max_unpool_overwrites_instead_of_summing() -> None:
    indices = _pool_indices()
    theirs = torch.nn.MaxUnpool2d(2, stride=1)(_map(DECODER_IN), indices, output_size=(3, 3))
    # torch keeps one of the two values written to (0,1), never their sum.
    assert theirs[0, 0, 0, 1].item() in (300.0, 450.0)
    assert not torch.equal(theirs, _map(UNPOOLED))
    ours = max_unpool2d(_map(DECODER_IN), indices, output_size=(3, 3))
    elsewhere = torch.ones(3, 3, dtype=torch.bool)
    elsewhere[0, 1] = False
    assert torch.equal(theirs[0, 0][elsewhere], ours[0, 0][elsewhere])


def test_unpool_per_plane_matches_a_loop_reference() -> None:
    """Batches and channels unpool independently, with their own indices."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 9, generator=gen)
    pooled, indices = F.max_pool2d(x, 3, stride=2, return_indices=True)
    values = torch.randn(pooled.shape, generator=gen)
    out = max_unpool2d(values, indices, output_size=(7, 9))
    expected = torch.zeros(2, 3, 7 * 9)
    for n in range(2):
        for c in range(3):
            for v, i in zip(values[n, c].flatten(), indices[n, c].flatten(), strict=True):
                expected[n, c, i] += v
    torch.testing.assert_close(out, expected.view(2, 3, 7, 9), rtol=0, atol=1e-6)


def test_unpool_gradient_gathers_from_the_indices() -> None:
    indices = _pool_indices()
    values = _map(DECODER_IN).requires_grad_(True)
    weights = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    (max_unpool2d(values, indices, output_size=(3, 3)) * weights).sum().backward()
    # d/dv of sum(w * unpool(v)) is w at the position v was routed to: w(0,1)=2 twice,
    # w(1,0)=4, w(1,2)=6.
    assert values.grad is not None
    assert values.grad.tolist() == [[[[2.0, 2.0], [4.0, 6.0]]]]


def _identity_head(model: torch.nn.Module) -> None:
    with torch.no_grad():
        model.head.weight.fill_(1.0)
        model.head.bias.zero_()


def test_compiled_spec_unpools_with_the_pool_indices_and_sums() -> None:
    graph = compile_graph(load_spec(SPEC))
    op = graph["dec_pool"].op
    assert isinstance(op, MaxUnpoolOp)
    assert op.pool == "pool"
    assert tuple(op.size) == (3, 3)
    assert graph["dec_pool"].shape == (1, 3, 3)

    model = compile_spec(SPEC).eval()
    _identity_head(model)
    seen: dict[str, torch.Tensor] = {}
    model.dec_pool.register_forward_hook(lambda m, args, out: seen.update(unpool=out))
    with torch.no_grad():
        out = model(_map(X))
    # The decoder unpools the pooled map itself: 150 from both top windows adds up.
    assert seen["unpool"].tolist() == [[UNPOOLED_POOLED]]
    assert out.tolist() == [[UNPOOLED_POOLED]]


def test_compiled_unpool_node_on_the_seed_decoder_values() -> None:
    """Feed [[300,450],[100,250]] to the compiled unpool node (keeping the indices the
    compiled pool recorded) and read the network's output through an identity head."""
    model = compile_spec(SPEC).eval()
    _identity_head(model)

    def substitute(module: torch.nn.Module, args: tuple[torch.Tensor, ...]):
        _, indices = args
        assert indices.tolist() == [[ARGMAX]]
        return (_map(DECODER_IN), indices)

    model.dec_pool.register_forward_pre_hook(substitute)
    seen: dict[str, torch.Tensor] = {}
    model.dec_pool.register_forward_hook(lambda m, args, out: seen.update(unpool=out))
    with torch.no_grad():
        out = model(_map(X))
    assert seen["unpool"].tolist() == [[UNPOOLED]]
    assert out.tolist() == [[UNPOOLED]]
