"""The files of ``graphspec compile``: readable source, the weights beside it, ONNX.

The order matters and is the same for every caller: the weights are loaded (and checked
against the network) before anything is written, so weights that do not fit leave no
file behind; then the source, the state_dict the source's docstring names, and the ONNX
file. The CLI only checks its options, calls :func:`export_files` and prints a line per
path it reports.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from compiler.emit.codegen import generate_source
from compiler.emit.graphnet import GraphNet
from compiler.emit.network import build_network
from compiler.emit.onnx import export_onnx
from compiler.emit.weights import load_weights_file, save_state
from compiler.passes.fc_to_conv import classifier_to_fcn_state_dict
from graphspec.atomic import atomic_write_text
from graphspec.ir import Graph

__all__ = ["export_files", "weights_beside"]

PathArg = str | os.PathLike[str]


def weights_beside(source: PathArg) -> Path:
    """Where the weights of ``source`` (``model.py``) go: ``model.pt`` in its folder, the
    name the generated class's docstring tells the reader to load."""
    return Path(source).with_suffix(".pt")


def _loaded_net(graph: Graph, weights: PathArg | None, fcn: bool) -> GraphNet:
    """``GraphNet(graph)`` carrying ``weights`` (strictly; a :class:`WeightsError` names
    what does not fit). With ``fcn`` the file may be the classifier's, whose linear
    weights are reshaped to the converted convs. The file is read as every weights file
    is (:func:`~compiler.emit.weights.load_weights_file`: bounded, memory-mapped, checked)."""
    net = build_network(graph)
    if weights is not None:
        convert = (lambda state: classifier_to_fcn_state_dict(state, graph)) if fcn else None
        load_weights_file(net, weights, convert=convert)
    return net


def export_files(
    graph: Graph,
    *,
    source: PathArg | None = None,
    onnx: PathArg | None = None,
    weights: PathArg | None = None,
    fcn: bool = False,
    opset: int | None = None,
    on_write: Callable[[Path], object] | None = None,
) -> list[Path]:
    """Write ``graph`` as PyTorch source (``source``), ONNX (``onnx``) or both, with the
    state_dict in ``weights`` loaded; return the paths written, in order.

    With ``weights`` and ``source`` the weights are also saved beside the source
    (:func:`weights_beside`), so the generated class can load them. ``fcn`` says
    ``graph`` went through ``fc_to_conv`` and ``weights`` may be the classifier's.
    ``on_write`` hears of each file as soon as it is complete, so a caller can report
    the files written before a later export fails. Raises
    :class:`~compiler.emit.weights.WeightsError` (before writing anything) and
    :class:`~compiler.emit.onnx.OnnxExportError`."""
    net = _loaded_net(graph, weights, fcn)
    written: list[Path] = []

    def wrote(path: Path) -> None:
        written.append(path)
        if on_write is not None:
            on_write(path)

    if source is not None:
        target = weights_beside(source) if weights is not None else None
        text = generate_source(graph, weights_file=target.name if target else None)
        atomic_write_text(Path(source), text)
        wrote(Path(source))
        if target is not None:
            save_state(target, net.state_dict())
            wrote(target)
    if onnx is not None:
        wrote(export_onnx(net, onnx, opset=opset))
    return written
