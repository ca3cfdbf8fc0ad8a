"""``graphspec compile --weights``: ONNX and generated source carry a trained state_dict.

Every comparison is against GraphNet run eagerly with the same weights (onnxruntime and
the generated class are independent implementations of the forward pass)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from compiler import GraphNet, compile_graph
from graphspec import load_spec
from graphspec.cli import main
from graphspec.cli.compile import DEFAULT_OPSET

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
SPECS = Path(__file__).parent.parent / "specs"


def _trained(spec: str, tmp_path: Path) -> tuple[GraphNet, Path]:
    """A GraphNet with random weights and random BN statistics, saved as a state_dict."""
    torch.manual_seed(7)
    net = GraphNet(compile_graph(load_spec(SPECS / spec))).eval()
    for key, value in net.state_dict().items():  # trained-looking BN statistics
        if key.endswith("running_mean"):
            value.copy_(0.1 * torch.randn_like(value))
        elif key.endswith("running_var"):
            value.copy_(0.5 + torch.rand_like(value))
    path = tmp_path / "best.pt"
    torch.save(net.state_dict(), path)
    return net, path


def _run(path: Path, x: torch.Tensor) -> list:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x.numpy()})


def test_segmentation_onnx_has_named_dynamic_batch(tmp_path, capsys, recwarn) -> None:
    net, weights = _trained("segnet-small.yaml", tmp_path)
    out = tmp_path / "m.onnx"
    argv = ["compile", str(SPECS / "segnet-small.yaml"), "--weights", str(weights)]
    assert main([*argv, "--onnx", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"wrote {out}\n" and captured.err == ""
    assert not [w for w in recwarn if "LeafSpec" in str(w.message)]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    for batch in (1, 4):
        x = torch.randn(batch, 3, 64, 64)
        (logits,) = _run(out, x)
        with torch.no_grad():
            expected = net(x).numpy()
        assert logits.shape == (batch, 4, 64, 64)
        assert abs(logits - expected).max() < 1e-4


def test_source_and_weights_reproduce_graphnet(tmp_path, capsys) -> None:
    net, weights = _trained("segnet-small.yaml", tmp_path)
    py = tmp_path / "model.py"
    spec = str(SPECS / "segnet-small.yaml")
    assert main(["compile", spec, "--weights", str(weights), "-o", str(py)]) == 0
    source = py.read_text()
    assert '    net.load_state_dict(torch.load("model.pt", weights_only=True))' in source
    module_spec = importlib.util.spec_from_file_location("exported_model", py)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    generated = module.SegnetSmall()
    generated.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(generated.eval()(x), net(x), atol=1e-5)


def test_ssd_onnx_outputs_scores_and_offsets(tmp_path, capsys) -> None:
    net, weights = _trained("ssd-small.yaml", tmp_path)
    out = tmp_path / "ssd.onnx"
    spec = str(SPECS / "ssd-small.yaml")
    assert (
        main(["compile", spec, "--weights", str(weights), "--onnx", str(out), "--opset", "18"]) == 0
    )
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["scores", "offsets"]
    x = torch.randn(2, 3, 64, 64)
    scores, offsets = _run(out, x)
    with torch.no_grad():
        expected = net(x)
    # ssd-small: 336 default boxes, 3 classes + background
    assert scores.shape == (2, 336, 4) and offsets.shape == (2, 336, 4)
    assert abs(scores - expected[0].numpy()).max() < 1e-4
    assert abs(offsets - expected[1].numpy()).max() < 1e-4


@pytest.mark.parametrize("kind", ["missing", "mismatched"])
def test_bad_weights_is_one_line_exit_1(tmp_path, capsys, kind) -> None:
    weights = tmp_path / "w.pt"
    if kind == "mismatched":
        torch.save({"nope.weight": torch.zeros(1)}, weights)
    spec = str(SPECS / "segnet-small.yaml")
    assert (
        main(["compile", spec, "--weights", str(weights), "--onnx", str(tmp_path / "m.onnx")]) == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert ("not found" if kind == "missing" else "unexpected keys (1): nope.weight") in err
    assert not (tmp_path / "m.onnx").exists()


def test_stated_default_opset_is_torchs() -> None:
    from torch.onnx import _constants

    assert DEFAULT_OPSET == _constants.ONNX_DEFAULT_OPSET
