"""RoI max pooling and RoIAlign (``compiler.ops``), on 4x4 maps worked by hand.

Maps (one image, one channel unless said otherwise)::

    P = [[ 3, 12,  7,  0],      a permutation of 0..15, for max pooling
         [ 9,  1, 14,  5],
         [15,  6,  2, 10],
         [ 4, 11,  8, 13]]
    L[h][w] = 10 h + w          linear: inside the map a bilinear sample at (y, x) is 10 y + x,
                                so a bin's average is L at the mean sample position
    S = one-hot at (1, 1)       a sample's value is the weight it gives cell (1, 1)
"""

from __future__ import annotations

import pytest
import torch

from compiler import ops
from compiler.emit.modules import ModuleCall

P = [[3.0, 12.0, 7.0, 0.0], [9.0, 1.0, 14.0, 5.0], [15.0, 6.0, 2.0, 10.0], [4.0, 11.0, 8.0, 13.0]]


def _map(rows: list[list[float]], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype).view(1, 1, len(rows), len(rows[0]))


def _linear(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return _map([[10.0 * h + w for w in range(4)] for h in range(4)], dtype)


def _spike() -> torch.Tensor:
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1] = 1.0
    return x


def _rois(*rows: tuple[float, ...]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def test_roi_pool_rounds_halves_away_from_zero_and_overlaps_bins() -> None:
    # (8, 8, 40, 40) px at 1/16 -> (0.5, 0.5, 2.5, 2.5) -> C round (1, 1, 3, 3); torch.round
    # would give (0, 0, 2, 2). RoI rows/cols 1..3 (end included): 3 cells, 2 bins of 1.5:
    # bin 0 = [floor 0, ceil 1.5) = cells 1-2, bin 1 = [floor 1.5, ceil 3) = cells 2-3
    # (row/col 2 in both). Maxima: {1,14,6,2}=14 {14,5,2,10}=14 {6,2,11,8}=11 {2,10,8,13}=13.
    x = _map(P).requires_grad_()
    out = ops.roi_pool(x, _rois((0, 8, 8, 40, 40)), 2, spatial_scale=1 / 16)
    assert out.tolist() == [[[[14.0, 14.0], [11.0, 13.0]]]]
    # The gradient goes to each bin's argmax only: 14 at (1,2) gets 1 + 10 (two bins),
    # 11 at (3,1) gets 100, 13 at (3,3) gets 1000.
    out.backward(torch.tensor([[[[1.0, 10.0], [100.0, 1000.0]]]]))
    expected = torch.zeros(4, 4)
    expected[1, 2], expected[3, 1], expected[3, 3] = 11.0, 100.0, 1000.0
    assert torch.equal(x.grad[0, 0], expected)


def test_roi_pool_negative_half_and_an_empty_bin() -> None:
    # x1 = -8 px at 1/16 = -0.5 -> -1 (torch.round: 0), x2 = 0.5 -> 1; rows 0..0. Columns
    # -1..1 in 3 bins of 1: [-1,0) clipped to [0,0) is empty -> 0, then P[0][0], P[0][1].
    out = ops.roi_pool(_map(P), _rois((0, -8, 0, 8, 0)), (1, 3), spatial_scale=1 / 16)
    assert out.tolist() == [[[[0.0, 3.0, 12.0]]]]


def test_roi_pool_box_partly_outside_gives_zero_bins_without_gradient() -> None:
    # P - 20 is negative everywhere, so an empty bin's 0 is not a maximum. Rows 2..7 in 3
    # bins of 2: [2,4) = rows 2-3; [4,6) and [6,8) clipped to [4,4): empty. Columns 0..3:
    # one bin. Bin 0 = max(rows 2-3) = 15 - 20 = -5 at (2,0).
    x = (_map(P) - 20).requires_grad_()
    out = ops.roi_pool(x, _rois((0, 0, 2, 3, 7)), (3, 1))
    assert out.tolist() == [[[[-5.0], [0.0], [0.0]]]]
    out.backward(torch.tensor([[[[1.0], [10.0], [100.0]]]]))
    assert x.grad[0, 0, 2, 0] == 1.0 and x.grad.sum() == 1.0


def test_roi_pool_malformed_box_is_one_cell_and_ties_go_to_the_first() -> None:
    # x2 < x1: width max(1 - 3 + 1, 1) = 1 -> cell (3,3) = 13 in every bin ([0,ceil .5)).
    out = ops.roi_pool(_map(P), _rois((0, 3, 3, 1, 1)), 2)
    assert out.tolist() == [[[[13.0, 13.0], [13.0, 13.0]]]]
    # All four cells equal: the kernels' strict '>' scan keeps the first, (0,0).
    x = torch.full((1, 1, 2, 2), 7.0, requires_grad=True)
    ops.roi_pool(x, _rois((0, 0, 0, 1, 1)), 1).sum().backward()
    assert x.grad.view(-1).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_box_formats_agree_and_batch_indices_pick_the_image() -> None:
    # Image 1 is image 0 + 100. roi_pool, 1x1: whole map of image 0 -> 15, of image 1 -> 115,
    # rows/cols 2..3 of image 1 -> max(2, 10, 8, 13) + 100 = 113. roi_align, 1x1, 2x2 grid:
    # (0,0,2,2) samples at 0.5/1.5 -> L(1,1) = 11 (+100 on image 1); (1,1,3,3) -> L(2,2) = 22.
    x = torch.cat([_map(P), _map(P) + 100])
    tensor = _rois((0, 0, 0, 3, 3), (1, 0, 0, 3, 3), (1, 2, 2, 3, 3))
    listed = [_rois((0, 0, 3, 3)), _rois((0, 0, 3, 3), (2, 2, 3, 3))]
    for boxes in (tensor, listed):
        assert ops.roi_pool(x, boxes, 1).view(-1).tolist() == [15.0, 115.0, 113.0]
    x = torch.cat([_linear(), _linear() + 100])
    tensor = _rois((0, 0, 0, 2, 2), (1, 0, 0, 2, 2), (1, 1, 1, 3, 3))
    listed = [_rois((0, 0, 2, 2)), _rois((0, 0, 2, 2), (1, 1, 3, 3))]
    for boxes in (tensor, listed):
        out = ops.roi_align(x, boxes, 1, sampling_ratio=2)
        assert out.view(-1).tolist() == [11.0, 111.0, 122.0]


def test_roi_align_aligned_shifts_by_half_a_cell() -> None:
    # (0,0,2,2), 2x2 bins of 1, 2x2 grid: samples at ph + .25, ph + .75 -> L(ph+.5, pw+.5).
    # aligned: the box is (-.5,-.5,1.5,1.5), one bin of 2, samples 0 and 1 -> L(.5,.5) = 5.5.
    x, box = _linear(), _rois((0, 0, 0, 2, 2))
    assert ops.roi_align(x, box, 2, sampling_ratio=2).tolist() == [[[[5.5, 6.5], [15.5, 16.5]]]]
    assert ops.roi_align(x, box, 1, sampling_ratio=2, aligned=True).item() == 5.5


def test_roi_align_degenerate_box() -> None:
    # (1,1,1,1): not aligned, the size is clamped to 1: samples 1.25, 1.75 -> L(1.5,1.5).
    # aligned: start .5, size 0: all 4 samples at (.5,.5) -> 5.5; the adaptive grid is
    # ceil(0 / 1) = 0 samples -> 0.
    x, box = _linear(), _rois((0, 1, 1, 1, 1))
    assert ops.roi_align(x, box, 1, sampling_ratio=2).item() == 16.5
    assert ops.roi_align(x, box, 1, sampling_ratio=2, aligned=True).item() == 5.5
    assert ops.roi_align(x, box, 1, sampling_ratio=0, aligned=True).item() == 0.0


def test_roi_align_fixed_and_adaptive_grids() -> None:
    # On S, (0,0,3,3) with one bin of 3. Fixed 2x2 grid: samples 0.75 and 2.25 per axis;
    # 0.75 gives row 1 weight 0.75, 2.25 gives it 0 -> (0.75 * 0.75) / 4 = 0.140625.
    # Adaptive: ceil(3 / 1) = 3 per axis, samples .5, 1.5, 2.5 give row 1 .5 + .5 + 0 = 1
    # -> 1 * 1 / 9. (0,0,3,1): 3 x 1 grid, rows: sample .5 -> .5; columns 1 -> 0.5 / 3.
    x = _spike()
    assert ops.roi_align(x, _rois((0, 0, 0, 3, 3)), 1, sampling_ratio=2).item() == 0.140625
    adaptive = ops.roi_align(x, _rois((0, 0, 0, 3, 3), (0, 0, 0, 3, 1)), 1, sampling_ratio=-1)
    assert torch.allclose(adaptive.view(-1), torch.tensor([1 / 9, 1 / 6]))


def test_roi_align_samples_out_of_range_count_as_zero() -> None:
    # (-2,0,2,2), 4x4 grid: x at -1.5 (< -1: zero), -0.5 (clamped to 0), 0.5, 1.5; y at
    # .25 .75 1.25 1.75 (sum 4). Sum = sum_y sum_{x in 0,.5,1.5} (10 y + x) = 3*40 + 4*2
    # = 128, over all 16 samples = 8 (dropping the zeros from the count would give 10.67).
    out = ops.roi_align(_linear(), _rois((0, -2, 0, 2, 2)), 1, sampling_ratio=4)
    assert out.item() == 8.0
    # One sample each (sampling_ratio 1): x = -1 exactly is in range (clamped to 0): L(1,0)
    # = 10; y = 4 = H exactly is in range and uses row 3 alone: L(3,1) = 31; so does y = 3.5
    # (no extrapolation to 36); y = 4.1 and x = -1.1 are out: 0.
    boxes = _rois(
        (0, -2, 0, 0, 2), (0, 0, 3, 2, 5), (0, 0, 3, 2, 4), (0, 0, 3, 2, 5.2), (0, -2.2, 0, 0, 2)
    )
    out = ops.roi_align(_linear(), boxes, 1, sampling_ratio=1)
    assert out.view(-1).tolist() == [10.0, 31.0, 31.0, 0.0, 0.0]


@pytest.mark.parametrize(("sampling_ratio", "aligned"), [(2, False), (0, True), (-1, False)])
def test_roi_align_gradcheck(sampling_ratio: int, aligned: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    boxes = torch.tensor(
        [[0, 1.0, 1.5, 7.0, 6.0], [1, -3.0, -2.0, 4.0, 12.0], [1, 6.5, 0.2, 14.0, 3.0]],
        dtype=torch.float64,
    )

    def align(t: torch.Tensor) -> torch.Tensor:
        return ops.roi_align(t, boxes, (2, 3), 0.75, sampling_ratio, aligned)

    assert torch.autograd.gradcheck(align, (x,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_and_device_follow_the_input(dtype: torch.dtype) -> None:
    box = torch.tensor([[0, 0, 0, 2, 2]], dtype=torch.float64)  # boxes' dtype does not matter
    align = ops.roi_align(_linear(dtype), box, 1, sampling_ratio=2)
    pool = ops.roi_pool(_map(P, dtype), box, 1)  # rows/cols 0..2: max 15
    for out, value in ((align, 11.0), (pool, 15.0)):
        assert out.dtype == dtype and out.device.type == "cpu" and out.item() == value


def test_autocast_does_not_round_the_weights() -> None:
    # L / 3 at the centre of (0,0,2,2): 11 / 3, which bfloat16 would round to 3.672.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ops.roi_align(_linear() / 3, _rois((0, 0, 0, 2, 2)), 1, sampling_ratio=2)
    assert out.dtype == torch.float32 and abs(out.item() - 11 / 3) < 1e-6


def test_traced_shapes_give_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """When tracing, the table levels and the adaptive grid's padding come from the map's
    size instead of the boxes: the hand-worked values above do not change."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    out = ops.roi_pool(_map(P), _rois((0, 8, 8, 40, 40)), 2, spatial_scale=1 / 16)
    assert out.tolist() == [[[[14.0, 14.0], [11.0, 13.0]]]]
    adaptive = ops.roi_align(_spike(), _rois((0, 0, 0, 3, 3), (0, 0, 0, 3, 1)), 1)
    assert torch.allclose(adaptive.view(-1), torch.tensor([1 / 9, 1 / 6]))


def test_no_boxes_give_an_empty_batch() -> None:
    x = torch.randn(2, 3, 4, 4)
    for boxes in ([], [torch.zeros(0, 4), torch.zeros(0, 4)], torch.zeros(0, 5)):
        assert ops.roi_pool(x, boxes, 2).shape == (0, 3, 2, 2)
        assert ops.roi_align(x, boxes, (2, 3), sampling_ratio=0).shape == (0, 3, 2, 3)
    with pytest.raises(ValueError, match=r"\[K, 5\]"):
        ops.roi_align(x, torch.zeros(2, 4), 2)


def test_modules_wrap_the_functions_and_print_into_generated_source() -> None:
    x, box = _linear(), _rois((0, 0, 0, 2, 2))
    align = ops.RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2)
    assert torch.equal(align(x, box), ops.roi_align(x, box, 2, 1.0, 2))
    assert repr(align) == (
        "RoIAlign(output_size=(2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=False)"
    )
    pool = ops.RoIPool(7, 0.0625)
    assert repr(pool) == "RoIPool(output_size=(7, 7), spatial_scale=0.0625)"
    call = ModuleCall(ops.RoIPool, dict(output_size=(7, 7), spatial_scale=0.0625))
    assert call.source() == "ops.RoIPool(output_size=(7, 7), spatial_scale=0.0625)"
    assert repr(eval(call.source(), {"ops": ops})) == repr(pool)


class _Heads(torch.nn.Module):
    """Both ops behind one forward, as a two-stage detector's RoI extractor uses them."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = ops.RoIPool((2, 3), 0.5)
        self.fixed = ops.RoIAlign((2, 3), 0.5, sampling_ratio=2)
        self.adaptive = ops.RoIAlign(2, 0.5, sampling_ratio=0, aligned=True)

    def forward(self, x: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.pool(x, rois), self.fixed(x, rois), self.adaptive(x, rois)


def test_onnx_export_decomposes_and_matches(tmp_path) -> None:
    """The dynamo exporter decomposes both ops (standard ONNX ops, no RoiAlign /
    MaxRoiPool), with the number of RoIs dynamic; onnxruntime reproduces PyTorch."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from compiler.emit.onnx import _quiet_exporter

    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 7)
    rois = _rois((0, 0, 0, 9, 11), (1, 2, 3, 13, 8), (0, -4, -2, 20, 17), (1, 5, 5, 5, 5))
    model = _Heads().eval()
    with _quiet_exporter():
        program = torch.onnx.export(
            model,
            (x, rois),
            dynamo=True,
            verbose=False,
            input_names=["x", "rois"],
            dynamic_shapes=({}, {0: torch.export.Dim("rois", min=1)}),
        )
    assert not {n.op_type for n in program.model_proto.graph.node} & {"RoiAlign", "MaxRoiPool"}
    program.save(str(tmp_path / "roi.onnx"))
    session = ort.InferenceSession(str(tmp_path / "roi.onnx"), providers=["CPUExecutionProvider"])
    for boxes in (rois, rois[:2], torch.cat([rois, rois + torch.tensor([0, 1.5, 1.5, 1.5, 1.5])])):
        got = session.run(None, {"x": x.numpy(), "rois": boxes.numpy()})
        with torch.no_grad():
            expected = model(x, boxes)
        assert torch.equal(torch.from_numpy(got[0]), expected[0])  # max pooling: exact
        for ours, theirs in zip(got[1:], expected[1:], strict=True):
            assert torch.allclose(torch.from_numpy(ours), theirs, atol=1e-5)


def test_roi_align_on_several_images_equals_one_image_at_a_time() -> None:
    """Eagerly, RoIs are grouped by image (one product each); the result and the map's
    gradient must be those of running every image alone."""
    torch.manual_seed(0)
    x = torch.randn(3, 2, 9, 11, dtype=torch.float64, requires_grad=True)
    boxes = [
        torch.tensor([[0.5, 1.0, 7.0, 8.0], [2.0, 2.0, 5.0, 9.0]], dtype=torch.float64),
        torch.zeros(0, 4, dtype=torch.float64),
        torch.tensor([[1.0, 0.0, 10.0, 6.5]], dtype=torch.float64),
    ]
    together = ops.roi_align(x, boxes, (3, 2), 0.5, sampling_ratio=-1, aligned=True)
    alone = torch.cat(
        [ops.roi_align(x[i : i + 1], [b], (3, 2), 0.5, -1, True) for i, b in enumerate(boxes)]
    )
    torch.testing.assert_close(together, alone)
    weights = torch.randn_like(together)
    (grad_together,) = torch.autograd.grad((together * weights).sum(), x)
    (grad_alone,) = torch.autograd.grad((alone * weights).sum(), x)
    torch.testing.assert_close(grad_together, grad_alone)
