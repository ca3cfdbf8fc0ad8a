"""``compiler.emit.export.export_files``: what ``graphspec compile`` writes, called directly.

The generated class is an independent implementation of the forward pass, so loading the
saved state_dict into it and matching GraphNet checks source and weights together. The
FCN weight shape is worked out by hand from ``specs/classifier-small.yaml``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from compiler import GraphNet, compile_graph, fc_to_conv
from compiler.emit.export import export_files, weights_beside
from compiler.emit.weights import WeightsError
from graphspec import Graph, load_spec
from tests import SPECS, tiny_seg


def _graph(text: str) -> Graph:
    return compile_graph(load_spec(text))


def _saved_net(graph: Graph, path: Path, seed: int = 3) -> GraphNet:
    """A GraphNet with seeded random weights (BN statistics included), saved to ``path``."""
    torch.manual_seed(seed)
    net = GraphNet(graph).eval()
    for key, value in net.state_dict().items():
        if key.endswith("running_mean") or key.endswith("running_var"):
            value.copy_(0.5 + torch.rand_like(value))
    torch.save(net.state_dict(), path)
    return net


def _generated_class(path: Path, name: str) -> type[nn.Module]:
    module_spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, name)


def test_weights_go_beside_the_source() -> None:
    assert weights_beside("out/model.py") == Path("out/model.pt")
    assert weights_beside(Path("net.v2.py")) == Path("net.v2.pt")


def test_source_and_weights_reproduce_graphnet(tmp_path: Path) -> None:
    graph = _graph(tiny_seg("tiny"))
    net = _saved_net(graph, tmp_path / "best.pt")
    heard: list[Path] = []
    written = export_files(
        graph, source=tmp_path / "model.py", weights=tmp_path / "best.pt", on_write=heard.append
    )
    assert written == heard == [tmp_path / "model.py", tmp_path / "model.pt"]
    source = (tmp_path / "model.py").read_text()
    assert 'net.load_state_dict(torch.load("model.pt", weights_only=True))' in source
    generated = _generated_class(tmp_path / "model.py", "Tiny")()
    generated.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(generated.eval()(x), net(x), atol=1e-5)


def test_source_alone_has_no_weights_file(tmp_path: Path) -> None:
    graph = _graph(tiny_seg("tiny"))
    assert export_files(graph, source=str(tmp_path / "model.py")) == [tmp_path / "model.py"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]
    assert "torch.load" not in (tmp_path / "model.py").read_text()


def test_nothing_is_written_when_the_weights_do_not_fit(tmp_path: Path) -> None:
    _saved_net(_graph(tiny_seg("tiny", classes=5)), tmp_path / "best.pt")
    heard: list[Path] = []
    with pytest.raises(WeightsError, match=r"do not fit the network: wrong shapes \(2\): head"):
        export_files(
            _graph(tiny_seg("tiny", classes=4)),
            source=tmp_path / "model.py",
            onnx=tmp_path / "model.onnx",
            weights=tmp_path / "best.pt",
            on_write=heard.append,
        )
    assert heard == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]


def test_fcn_reshapes_the_classifiers_linear_weights(tmp_path: Path) -> None:
    """classifier-small: avgpool 8 (stride 1) over its 64x8x8 map leaves 64x1x1, so fc's
    [4, 64] weight becomes the converted conv's [4, 64, 1, 1]."""
    classifier_graph = _graph((SPECS / "classifier-small.yaml").read_text())
    classifier = _saved_net(classifier_graph, tmp_path / "best.pt")
    fcn_graph = fc_to_conv(classifier_graph)
    with pytest.raises(WeightsError):  # the linear's weights as they are do not fit
        export_files(fcn_graph, source=tmp_path / "fcn.py", weights=tmp_path / "best.pt")
    assert not (tmp_path / "fcn.py").exists()
    written = export_files(
        fcn_graph, source=tmp_path / "fcn.py", weights=tmp_path / "best.pt", fcn=True
    )
    assert written == [tmp_path / "fcn.py", tmp_path / "fcn.pt"]
    saved = torch.load(tmp_path / "fcn.pt", weights_only=True)
    expected = classifier.state_dict()["fc.weight"].reshape(4, 64, 1, 1)
    assert saved["fc.weight"].shape == (4, 64, 1, 1)
    assert torch.equal(saved["fc.weight"], expected)


def test_a_failed_onnx_export_comes_after_the_files_before_it(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from compiler.emit.onnx import OnnxExportError

    heard: list[Path] = []
    with pytest.raises(OnnxExportError, match="opset 5 is not supported"):
        export_files(
            _graph(tiny_seg("tiny")),
            source=tmp_path / "model.py",
            onnx=tmp_path / "model.onnx",
            opset=5,
            on_write=heard.append,
        )
    assert heard == [tmp_path / "model.py"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]
