"""Emission: generated Python source, ONNX export, torch.compile, memory formats.

``graphspec compile SPEC -o model.py`` must write a ruff-clean module that imports only
torch and compiler.ops and, given the compiled model's state_dict, computes exactly what
the compiled model computes.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from compiler import compile_spec, count_parameters
from graphspec import SpecError
from graphspec.cli import main
from tests import REPO, SPECS

TIED = textwrap.dedent(
    """
    name: tied-emit
    task: segmentation
    input: {channels: 3, height: 18, width: 22}
    classes: 3
    encoder:
      - stage: s
        layers:
          - {op: conv, out: 4, kernel: 3, padding: 1, name: c1}
          - {op: batchnorm}
          - {op: relu}
          - {op: conv, out: 6, kernel: 3, padding: 1, name: c2}
          - {op: relu}
          - {op: maxpool, kernel: 2, name: p1}
          - {op: conv, out: 8, kernel: 3, stride: 2, padding: 1, name: c3}
          - {op: relu}
    decoder: {upsample: tied, skips: add}
    head: {type: segmentation}
    """
)


def _spec_path(name: str, tmp_path: Path) -> Path:
    if name == "tied-emit":
        path = tmp_path / "tied-emit.yaml"
        path.write_text(TIED)
        return path
    return SPECS / f"{name}.yaml"


def _ruff() -> str:
    local = Path(sys.executable).parent / "ruff"
    found = str(local) if local.exists() else shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed")
    return found


def _randomize_buffers(model: nn.Module) -> None:
    """Non-trivial batch-norm statistics, so eval mode really uses them."""
    gen = torch.Generator().manual_seed(3)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)


def _load_generated(path: Path) -> type[nn.Module]:
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, nn.Module)
        and obj.__module__ == module.__name__
    ]
    assert len(classes) == 1
    return classes[0]


def _imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _input_of(model: nn.Module, batch: int = 2) -> torch.Tensor:
    c, h, w = model.graph["input"].shape
    return torch.randn(batch, c, h, w)


@pytest.mark.parametrize("name", ["segnet-small", "unet-small", "fcn-small", "tied-emit"])
def test_generated_source_is_clean_and_computes_the_same(name: str, tmp_path, capsys) -> None:
    spec = _spec_path(name, tmp_path)
    out = tmp_path / f"{name.replace('-', '_')}_model.py"
    assert main(["compile", str(spec), "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    source = out.read_text()

    # ruff, with the project's configuration (the file is checked as if it sat in the repo)
    ruff = _ruff()
    for args in (["check"], ["format", "--check"]):
        run = subprocess.run(
            [ruff, *args, "--stdin-filename", str(REPO / "generated_model.py"), "-"],
            input=source,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert run.returncode == 0, run.stdout + run.stderr

    # imports: torch (and torch.nn) and compiler.ops, nothing else
    assert _imports(source) <= {"torch", "torch.nn", "compiler.ops"}
    assert "compiler.ops" in _imports(source)

    torch.manual_seed(0)
    compiled = compile_spec(spec).eval()
    _randomize_buffers(compiled)
    generated = _load_generated(out)()
    assert list(generated.state_dict()) == list(compiled.state_dict())
    generated.load_state_dict(compiled.state_dict())
    generated.eval()
    assert count_parameters(generated) == count_parameters(compiled)
    x = _input_of(compiled)
    with torch.no_grad():
        expected, actual = compiled(x), generated(x)
    assert actual.shape == expected.shape
    assert torch.equal(actual, expected)
    if name == "tied-emit":
        assert generated.dec_c2.weight is generated.c2.weight
        assert generated.dec_c3.weight is generated.c3.weight


def test_compile_without_output_prints_the_source(capsys) -> None:
    assert main(["compile", str(SPECS / "segnet-small.yaml")]) == 0
    source = capsys.readouterr().out
    assert "class SegnetSmall(nn.Module):" in source
    ast.parse(source)


def test_onnx_export_matches_onnxruntime(tmp_path, capsys) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    spec = _spec_path("tied-emit", tmp_path)
    path = tmp_path / "model.onnx"
    # The CLI builds its own randomly initialised model; with the same seed,
    # compile_spec builds the same one (same modules, same initialisation order).
    torch.manual_seed(1234)
    assert main(["compile", str(spec), "--onnx", str(path)]) == 0
    assert path.exists()
    torch.manual_seed(1234)
    model = compile_spec(spec).eval()
    x = _input_of(model, batch=1)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (result,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = model(x)
    assert result.shape == tuple(expected.shape)
    assert float(abs(result - expected.numpy()).max()) < 1e-4


TINY = textwrap.dedent(
    """
    name: compile-tiny
    task: segmentation
    input: {channels: 3, height: 12, width: 12}
    classes: 2
    encoder:
      - stage: s
        layers:
          - {op: conv, out: 4, kernel: 3, padding: 1, name: c1}
          - {op: relu}
          - {op: conv, out: 6, kernel: 3, padding: 1, name: c2}
          - {op: relu}
          - {op: maxpool, kernel: 2, name: p1}
    decoder: {upsample: tied, skips: add}
    head: {type: segmentation}
    """
)


@pytest.mark.slow
def test_torch_compile_forward_and_backward_match_eager() -> None:
    """Max-pool indices, the summing unpool, a tied weight and an additive skip, all
    through inductor, forward and backward."""
    torch.manual_seed(0)
    eager = compile_spec(TINY)
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model)
    x = torch.randn(2, 3, 12, 12)
    g = torch.randn(2, 2, 12, 12)
    out_eager = eager(x)
    out_compiled = compiled(x)
    torch.testing.assert_close(out_compiled, out_eager, rtol=1e-4, atol=1e-5)
    (out_eager * g).sum().backward()
    (out_compiled * g).sum().backward()
    eager_params = dict(eager.named_parameters())
    compiled_params = dict(compiled_model.named_parameters())
    assert compiled_params.keys() == eager_params.keys()
    for name, param in compiled_params.items():
        assert param.grad is not None, name
        torch.testing.assert_close(param.grad, eager_params[name].grad, rtol=1e-4, atol=1e-4)
    assert compiled_model.dec_c2.weight is compiled_model.c2.weight


@pytest.mark.parametrize("name", ["segnet-small", "unet-small", "tied-emit"])
def test_channels_last_input_gives_the_same_output(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    model = compile_spec(_spec_path(name, tmp_path)).eval()
    _randomize_buffers(model)
    x = _input_of(model)
    with torch.no_grad():
        expected = model(x)
        nhwc = x.contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(model(nhwc), expected, rtol=0, atol=1e-5)
        model.to(memory_format=torch.channels_last)
        torch.testing.assert_close(model(nhwc), expected, rtol=0, atol=1e-5)


def _named(layer_name: str, decoder: bool) -> str:
    return textwrap.dedent(
        f"""
        name: names
        task: segmentation
        input: {{channels: 3, height: 8, width: 8}}
        classes: 2
        encoder:
          - stage: s
            layers:
              - {{op: conv, out: 4, kernel: 3, padding: 1, name: {layer_name}}}
              - {{op: relu}}
              - {{op: maxpool, kernel: 2, name: p1}}
        {"decoder: {upsample: unpool}" if decoder else ""}
        head: {{type: segmentation}}
        """
    )


@pytest.mark.parametrize("layer_name", ["x", "self", "torch", "nn", "ops"])
def test_generated_source_survives_names_that_shadow_locals(layer_name: str, tmp_path) -> None:
    text = _named(layer_name, decoder=True)
    spec = tmp_path / "names.yaml"
    spec.write_text(text)
    out = tmp_path / f"names_{layer_name}.py"
    assert main(["compile", str(spec), "-o", str(out)]) == 0
    torch.manual_seed(0)
    compiled = compile_spec(text).eval()
    generated = _load_generated(out)()
    generated.load_state_dict(compiled.state_dict())
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(generated.eval()(x), compiled(x))


@pytest.mark.parametrize("layer_name", ["class", "lambda"])
def test_generated_source_for_keyword_layer_names_is_valid_python(
    layer_name, tmp_path, capsys
) -> None:
    """Regression: IDENT allows keywords; codegen used to emit `self.class = ...`.
    Either the name is refused (exit 1, an error naming the layer) or the generated
    source is valid Python that computes what the compiled model computes."""
    spec = tmp_path / "names.yaml"
    text = _named(layer_name, decoder=True)
    spec.write_text(text)
    out = tmp_path / "names_keyword.py"
    code = main(["compile", str(spec), "-o", str(out)])
    if code == 1:
        assert layer_name in capsys.readouterr().err
        return
    assert code == 0
    ast.parse(out.read_text())
    torch.manual_seed(0)
    compiled = compile_spec(text).eval()
    generated = _load_generated(out)()
    generated.load_state_dict(compiled.state_dict())
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(generated.eval()(x), compiled(x))


@pytest.mark.parametrize(
    ("layer_name", "decoder"),
    [("head", False), ("dec_p1", True), ("train", False), ("forward", True)],
)
def test_layer_names_colliding_with_generated_names(layer_name: str, decoder: bool) -> None:
    """Regression: names the passes generate (head, dec_<pool>) or nn.Module attributes
    (train, forward) crashed compile_spec with NetworkXUnfeasible / KeyError. Either the
    network works or a SpecError names the layer."""
    try:
        model = compile_spec(_named(layer_name, decoder))
    except SpecError as err:
        assert layer_name in str(err)
        return
    with torch.no_grad():
        assert model(torch.randn(1, 3, 8, 8)).shape == (1, 2, 8, 8)


def test_generated_source_keeps_pool_indices_apart_from_layer_names(tmp_path) -> None:
    """Regression: the generated forward called a pool's indices `<pool>_indices`, the same
    local variable as a layer of that name, whose output then overwrote the indices."""
    text = textwrap.dedent(
        """
        name: indices-name
        task: segmentation
        input: {channels: 3, height: 8, width: 8}
        classes: 2
        encoder:
          - stage: s
            layers:
              - {op: conv, out: 4, kernel: 3, padding: 1, name: c1}
              - {op: maxpool, kernel: 2, name: p}
              - {op: conv, out: 4, kernel: 3, padding: 1, name: p_indices}
        decoder: {upsample: unpool}
        head: {type: segmentation}
        """
    )
    spec = tmp_path / "indices.yaml"
    spec.write_text(text)
    out = tmp_path / "indices_model.py"
    assert main(["compile", str(spec), "-o", str(out)]) == 0
    torch.manual_seed(0)
    compiled = compile_spec(text).eval()
    generated = _load_generated(out)()
    generated.load_state_dict(compiled.state_dict())
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(generated.eval()(x), compiled(x))
