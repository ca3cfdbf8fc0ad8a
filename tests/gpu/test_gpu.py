"""GPU: bf16 autocast + channels_last + torch.compile against fp32 eager.

Skipped without CUDA.

bf16 test. Targets: output relative L2 error < 5e-2, gradients (all parameters together)
cosine > 0.99, each parameter's > 0.98. Where bf16 itself cannot reach that, the bound
is the precision floor that *plain eager* bf16 autocast of the same model reaches on the
same device (contiguous, not compiled), with a margin: twice its output error, its
cosines minus 0.05 (all) / 0.1 (each); parameters whose plain-bf16 cosine is below 0.9
are not compared one by one. Measured on CPU with the shipped small specs (train-mode
batch-norm): plain bf16 unet-small is 0.012 off in output with gradient cosine 0.97
overall and 0.89 at worst (batch-norm backward subtracts means, so rounding noise is
large relative to what is left); segnet-small is 0.25 off with 0.73 overall, because two
values of a max-pool window within ~0.4% swap order in bf16 and the unpool then routes
the value (and its gradient) one pixel off. A wrong index or a dropped gradient would be
far outside (relative error ~1, cosine ~0).

fp32 test: the same compile + channels_last path without bf16 must match fp32 eager
tightly (relative 1e-3, each gradient cosine > 0.999).

RoI ops: ``compiler.ops.roi_pool`` / ``roi_align`` against torchvision's CUDA kernels on
random maps and boxes (skipped where torchvision does not import), forward and backward.
Max pooling must agree exactly (same bins, same argmax); RoIAlign to 1e-5 (torchvision
sums samples in another order and nvcc fuses multiply-adds in the sample positions).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compiler import compile_spec, ops
from tests import SPECS

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture
def exact_fp32() -> Iterator[None]:
    """A true fp32 reference: no TF32 in convolutions or matmuls."""
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _setup(name: str, device: str):
    torch.manual_seed(0)
    reference = compile_spec(SPECS / f"{name}.yaml").to(device).train()
    c, h, w = reference.graph["input"].shape
    classes = reference.graph[reference.graph.output].shape[0]
    x = torch.randn(4, c, h, w, device=device)
    g = torch.randn(4, classes, h, w, device=device)
    return reference, x, g


def _run(
    model: nn.Module,
    x: torch.Tensor,
    g: torch.Tensor,
    *,
    bf16: bool,
    channels_last: bool,
    backend: str | None,
) -> tuple[nn.Module, torch.Tensor]:
    """Forward + backward of a fresh copy of ``model``; returns (copy, fp32 output)."""
    model = copy.deepcopy(model)
    model.zero_grad(set_to_none=True)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    call = torch.compile(model, backend=backend) if backend else model
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = call(x)
    assert out.dtype == (torch.bfloat16 if bf16 else torch.float32)
    out = out.float()
    (out * g).sum().backward()
    return model, out.detach()


def _errors(ref: nn.Module, ref_out, model: nn.Module, out) -> tuple[float, dict[str, float]]:
    relative = ((out - ref_out).norm() / ref_out.norm()).item()
    ref_params = dict(ref.named_parameters())
    largest = max(p.grad.norm().item() for p in ref_params.values())
    cosines = {}
    for name, param in model.named_parameters():
        ref_grad = ref_params[name].grad
        assert param.grad is not None, name
        if ref_grad.norm().item() < 1e-6 * largest:
            continue  # e.g. a bias just before a train-mode batch-norm: zero up to noise
        cosines[name] = F.cosine_similarity(
            param.grad.float().flatten(), ref_grad.flatten(), dim=0
        ).item()
    assert len(cosines) >= len(ref_params) // 2
    names = sorted(cosines)
    cosines["<all>"] = F.cosine_similarity(
        torch.cat([dict(model.named_parameters())[n].grad.float().flatten() for n in names]),
        torch.cat([ref_params[n].grad.flatten() for n in names]),
        dim=0,
    ).item()
    return relative, cosines


def check_bf16_fast_path(name: str, device: str = "cuda", backend: str = "inductor") -> None:
    reference, x, g = _setup(name, device)
    ref, ref_out = _run(reference, x, g, bf16=False, channels_last=False, backend=None)
    fast, fast_out = _run(reference, x, g, bf16=True, channels_last=True, backend=backend)
    assert fast_out.shape == ref_out.shape
    relative, cosines = _errors(ref, ref_out, fast, fast_out)
    # The bf16 floor of this model: plain eager autocast, contiguous, not compiled.
    plain, plain_out = _run(reference, x, g, bf16=True, channels_last=False, backend=None)
    floor_out, floor_cos = _errors(ref, ref_out, plain, plain_out)

    out_bound = max(5e-2, 2 * floor_out)
    assert relative < out_bound, f"output relative error {relative:.3g} >= {out_bound:.3g}"
    all_bound = min(0.99, floor_cos["<all>"] - 0.05)
    assert cosines["<all>"] > all_bound, f"gradient cosine {cosines['<all>']:.4f}"
    for param_name, cosine in cosines.items():
        if param_name == "<all>" or floor_cos[param_name] < 0.9:
            continue  # a gradient bf16 itself does not reproduce (argmax flips, BN cancellation)
        bound = min(0.98, floor_cos[param_name] - 0.1)
        assert cosine > bound, f"{param_name}: gradient cosine {cosine:.4f} <= {bound:.4f}"


def check_fp32_fast_path(name: str, device: str = "cuda", backend: str = "inductor") -> None:
    reference, x, g = _setup(name, device)
    ref, ref_out = _run(reference, x, g, bf16=False, channels_last=False, backend=None)
    fast, fast_out = _run(reference, x, g, bf16=False, channels_last=True, backend=backend)
    relative, cosines = _errors(ref, ref_out, fast, fast_out)
    assert relative < 1e-3, f"output relative error {relative:.3g}"
    for param_name, cosine in cosines.items():
        assert cosine > 0.999, f"{param_name}: gradient cosine {cosine:.5f}"


@pytest.mark.parametrize("name", ["unet-small", "segnet-small"])
def test_bf16_channels_last_compiled_matches_fp32_eager(name: str, exact_fp32: None) -> None:
    check_bf16_fast_path(name)


@pytest.mark.parametrize("name", ["unet-small", "segnet-small"])
def test_fp32_channels_last_compiled_matches_fp32_eager(name: str, exact_fp32: None) -> None:
    check_fp32_fast_path(name)


def _torchvision_ops():
    try:
        from torchvision import ops as tv_ops
    except Exception as error:  # a wheel built for another torch fails in several ways
        pytest.skip(f"needs torchvision: {error}")
    return tv_ops


def _roi_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two 64-channel 19 x 25 maps (a 300 x 400 image at 1/16) and 60 boxes: some past the
    edges, some malformed (x2 < x1), the first 20 on multiples of 8 px (exact halves at
    1/16). Returns the map, the ``[K, 5]`` boxes and an output gradient, on CUDA."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 64, 19, 25, generator=gen)
    corner = torch.rand(60, 2, generator=gen) * torch.tensor([480.0, 360.0]) - 40.0
    size = torch.rand(60, 2, generator=gen) * 320.0 - 24.0
    boxes = torch.cat(
        [torch.randint(0, 2, (60, 1), generator=gen).float(), corner, corner + size], 1
    )
    boxes[:20, 1:] = (boxes[:20, 1:] / 8).round() * 8
    grad = torch.randn(60, 64, 7, 7, generator=gen)
    return x.cuda(), boxes.cuda(), grad.cuda()


def _both(op, tv_op, x: torch.Tensor, grad: torch.Tensor, *args):
    """Outputs and input gradients of ours and torchvision's op on the same arguments."""
    results = []
    for fn in (op, tv_op):
        leaf = x.clone().requires_grad_()
        out = fn(leaf, *args)
        (out * grad).sum().backward()
        results.append((out.detach(), leaf.grad))
    return results


def test_roi_pool_matches_torchvision() -> None:
    tv_ops = _torchvision_ops()
    x, boxes, grad = _roi_case()
    (ours, our_grad), (theirs, their_grad) = _both(
        ops.roi_pool, tv_ops.roi_pool, x, grad, boxes, 7, 1 / 16
    )
    assert torch.equal(ours, theirs)
    assert torch.allclose(our_grad, their_grad, atol=1e-5)  # atomics sum in another order
    listed = [boxes[boxes[:, 0] == i, 1:] for i in range(2)]
    assert torch.equal(ops.roi_pool(x, listed, 7, 1 / 16), tv_ops.roi_pool(x, listed, 7, 1 / 16))


@pytest.mark.parametrize(
    ("sampling_ratio", "aligned"), [(2, False), (0, True), (-1, False), (3, True)]
)
def test_roi_align_matches_torchvision(
    sampling_ratio: int, aligned: bool, exact_fp32: None
) -> None:
    tv_ops = _torchvision_ops()
    x, boxes, grad = _roi_case()
    args = (boxes, 7, 1 / 16, sampling_ratio, aligned)
    (ours, our_grad), (theirs, their_grad) = _both(ops.roi_align, tv_ops.roi_align, x, grad, *args)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-5)
    assert torch.allclose(our_grad, their_grad, atol=1e-5, rtol=1e-5)
