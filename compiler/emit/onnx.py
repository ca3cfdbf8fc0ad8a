"""ONNX export of a compiled network (torch's dynamo exporter).

The file is meant for deployment, so its interface is named and stable: one input
``images`` ``[batch, C, H, W]`` and the outputs of :func:`onnx_output_names`. Only the
batch axis is dynamic: H and W stay the spec's input size, because unpooling, resizes to
the input and the FC -> conv kernels are built for that size. A detector is exported with
its decoding (:class:`~compiler.emit.decoded.DecodedDetector`): every candidate's pixel
box and class scores, NMS left to the consumer. A two-stage detector takes a second input,
``rois`` ``[R, 5]`` (:class:`~compiler.emit.decoded_two_stage.DecodedTwoStage`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from compiler.emit.decoded import DecodedDetector
from compiler.emit.decoded_two_stage import DecodedTwoStage
from compiler.emit.graphnet import GraphNet, example_input
from compiler.emit.two_stage import TwoStageNet
from graphspec import Graph

__all__ = [
    "INPUT_NAME",
    "MIN_OPSET",
    "ROIS_NAME",
    "OnnxExportError",
    "export_onnx",
    "onnx_output_names",
]

INPUT_NAME = "images"
ROIS_NAME = "rois"
MIN_OPSET = 18
"""The lowest opset torch's dynamo exporter implements; below it, it converts silently
(and may fail to), so an older opset is refused instead."""
_EXAMPLE_BATCH = 2
"""torch.export specialises sizes 0 and 1, so the traced batch must be larger."""


class OnnxExportError(ValueError):
    """An export option the exporter cannot honour (one line)."""


def onnx_output_names(graph: Graph) -> tuple[str, ...]:
    """The ONNX names of the exported outputs, in order: ``logits`` (segmentation and
    classification); for SSD and YOLO heads ``scores`` ``[N, M, K]`` and ``boxes``
    ``[N, M, 4]`` (pixel ``xyxy``), the decoded candidates before NMS."""
    if graph.detection is None:
        if len(graph.results) != 1:
            raise OnnxExportError(f"expected 1 result, got {graph.results}")
        return ("logits",)
    layout = graph.detection.two_stage
    names = ("scores", "boxes")
    if layout is not None and layout.masks is not None:
        names += ("masks",)
    if layout is not None and layout.rpn is not None:
        names += ("proposal_scores", "proposal_boxes")
    return names


def _exported(net: GraphNet) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], list[str], tuple]:
    """The module to export, its example inputs, their names and their dynamic axes: the
    network itself (``images``), wrapped to decode (detectors), and for a two-stage
    detector also the RoIs to score (``rois`` ``[R, 5]``, R dynamic)."""
    graph = net.graph
    images = example_input(graph, batch=_EXAMPLE_BATCH)
    batch = torch.export.Dim("batch")
    if graph.detection is None:
        return net, (images,), [INPUT_NAME], ({0: batch},)
    if not isinstance(net, TwoStageNet):
        return DecodedDetector(net).eval(), (images,), [INPUT_NAME], ({0: batch},)
    _, height, width = images.shape[1:]
    rois = torch.tensor(
        [
            [0, 0, 0, width / 2, height / 2],
            [1, width / 4, height / 4, width, height],
            [0, 1, 2, width / 3, height / 3],
        ]
    )
    dims = ({0: batch}, {0: torch.export.Dim("rois")})
    return DecodedTwoStage(net).eval(), (images, rois), [INPUT_NAME, ROIS_NAME], dims


class _DropTorchvisionNotice(logging.Filter):
    """The exporter logs one line per torchvision op it skips when torchvision is not
    installed; no graphspec network uses those ops."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("torchvision is not installed")


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's notices that are about torch itself, for this export only."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    notice = _DropTorchvisionNotice()
    registration.addFilter(notice)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r"`isinstance\(treespec, LeafSpec\)`", category=FutureWarning
            )
            yield
    finally:
        registration.removeFilter(notice)


def _check_opset(opset: int | None) -> None:
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if opset is not None and not MIN_OPSET <= opset <= newest:
        raise OnnxExportError(
            f"opset {opset} is not supported (expected {MIN_OPSET} to {newest}, "
            "the range of torch's exporter and the installed onnx)"
        )


def export_onnx(net: GraphNet, path: str | Path, opset: int | None = None) -> Path:
    """Write ``net`` (in eval mode, with its current weights) as ONNX to ``path`` and
    return it. ``opset`` None is the exporter's default. Needs the ``onnx`` extra."""
    _check_opset(opset)
    path = Path(path)
    graph = net.graph
    outputs = onnx_output_names(graph)
    exported, example, names, dynamic = _exported(net.eval())
    with _quiet_exporter():
        program = torch.onnx.export(
            exported,
            example,
            dynamo=True,
            verbose=False,
            opset_version=opset,
            input_names=names,
            output_names=list(outputs),
            dynamic_shapes=dynamic,
        )
    produced = next(o.version for o in program.model_proto.opset_import if o.domain == "")
    if opset is not None and produced != opset:
        raise OnnxExportError(f"the exporter could not target opset {opset} (got {produced})")
    program.save(str(path))
    return path
