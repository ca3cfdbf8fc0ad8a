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
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compiler import compile_spec
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
