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
from tests import SPECS

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


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


def _decoded_reference(net: GraphNet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and pixel boxes of every candidate, decoded here from the raw outputs with
    the training-side layout (anchors from the spec's SSD section, or the YOLO grid)."""
    from compiler.detection.anchors import ssd_default_boxes
    from compiler.detection.box_coding import decode
    from compiler.detection.yolo_loss import split_yolo_output, yolo_boxes_xyxy

    layout = net.graph.detection
    _, h, w = net.graph["input"].shape
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    with torch.no_grad():
        out = net(x)
    if layout.type == "ssd":
        anchors = layout.anchors
        default = ssd_default_boxes(
            list(layout.feature_sizes),
            anchors.min_scale,
            anchors.max_scale,
            [list(r) for r in anchors.aspect_ratios],
        )
        boxes = decode(out[1], default) * scale
        return torch.softmax(out[0], -1)[..., 1:], boxes.clamp(min=0).minimum(scale)
    S, B, C = layout.grid, layout.boxes, layout.num_classes
    predictors, classes = split_yolo_output(out, S, B, C)
    boxes = (yolo_boxes_xyxy(predictors, S) * scale).clamp(min=0).minimum(scale)
    scores = predictors[..., 4, None] * classes[:, :, None, :]
    return scores.reshape(len(x), S * S * B, C), boxes.reshape(len(x), S * S * B, 4)


@pytest.mark.parametrize(("spec", "candidates"), [("ssd-small.yaml", 336), ("yolo-small.yaml", 0)])
def test_detector_onnx_outputs_decoded_scores_and_boxes(tmp_path, capsys, spec, candidates) -> None:
    net, weights = _trained(spec, tmp_path)
    out = tmp_path / "det.onnx"
    path = str(SPECS / spec)
    assert (
        main(["compile", path, "--weights", str(weights), "--onnx", str(out), "--opset", "18"]) == 0
    )
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["scores", "boxes"]
    layout = net.graph.detection
    if layout.type == "yolo":
        candidates = layout.grid**2 * layout.boxes
    for batch in (1, 4):
        x = torch.randn(batch, *net.graph["input"].shape)
        scores, boxes = _run(out, x)
        expected_scores, expected_boxes = _decoded_reference(net, x)
        assert scores.shape == (batch, candidates, layout.num_classes)
        assert boxes.shape == (batch, candidates, 4)
        assert abs(scores - expected_scores.numpy()).max() < 1e-4
        assert abs(boxes - expected_boxes.numpy()).max() < 1e-3


def test_ssd_onnx_candidates_select_what_decode_ssd_selects(tmp_path, capsys) -> None:
    """NMS over the exported candidates selects what the harness's decode_ssd selects."""
    from compiler.detection.anchors import head_default_boxes
    from compiler.detection.box_ops import batched_nms
    from compiler.detection.postprocess import decode_ssd

    net, weights = _trained("ssd-small.yaml", tmp_path)
    out = tmp_path / "ssd.onnx"
    argv = ["compile", str(SPECS / "ssd-small.yaml"), "--weights", str(weights)]
    assert main([*argv, "--onnx", str(out)]) == 0
    x = torch.randn(1, 3, 64, 64)
    scores, boxes = (torch.from_numpy(a)[0] for a in _run(out, x))
    box_index, class_index = torch.nonzero(scores > 0.01, as_tuple=True)
    keep = batched_nms(boxes[box_index], scores[box_index, class_index], class_index, 0.45)
    with torch.no_grad():
        logits, offsets = net(x)
    reference = decode_ssd(
        logits,
        offsets,
        head_default_boxes(net.graph.detection),
        image_size=(64, 64),
        pre_nms_top_k=None,
        top_k=10_000,
    )[0]
    assert len(keep) == len(reference["scores"]) > 0
    assert torch.allclose(scores[box_index, class_index][keep], reference["scores"], atol=1e-5)
    assert torch.allclose(boxes[box_index][keep], reference["boxes"], atol=1e-3)


BAD_WEIGHTS = {
    "missing": "--weights: no such file or directory",
    "mismatched": "unexpected keys (1): nope.weight",
    "nan": "hold NaN or inf: tensors (1): ",
}
"""How each bad --weights fails; a missing file is missing input (exit 2), the others
invalid weights (exit 1)."""


@pytest.mark.parametrize("kind", list(BAD_WEIGHTS))
def test_bad_weights_is_one_line(tmp_path, capsys, kind) -> None:
    weights = tmp_path / "w.pt"
    if kind == "mismatched":
        torch.save({"nope.weight": torch.zeros(1)}, weights)
    if kind == "nan":  # one NaN in the first tensor: the shared reader refuses it
        state = _trained("segnet-small.yaml", tmp_path)[0].state_dict()
        first = next(iter(state))
        state[first].view(-1)[0] = float("nan")
        torch.save(state, weights)
    spec = str(SPECS / "segnet-small.yaml")
    code = main(["compile", spec, "--weights", str(weights), "--onnx", str(tmp_path / "m.onnx")])
    assert code == (2 if kind == "missing" else 1)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("graphspec compile: " if kind == "missing" else "error: ")
    assert BAD_WEIGHTS[kind] in err
    assert not (tmp_path / "m.onnx").exists()


def test_stated_default_opset_is_torchs() -> None:
    from torch.onnx import _constants

    assert DEFAULT_OPSET == _constants.ONNX_DEFAULT_OPSET
