"""The compiler driver: spec -> graph IR -> passes -> ``nn.Module``."""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
from torch import nn

from compiler.detection_heads import add_ssd_head, add_yolo_head
from compiler.emit import GraphNet
from compiler.fc_to_conv import fc_to_conv
from compiler.heads import add_head
from compiler.mirror_decoder import mirror_decoder
from compiler.skips import add_skips
from compiler.transfer import load_encoder_weights
from graphspec import Spec, SpecError, build_graph, load_spec
from graphspec.graph import enforce_budget


def compile_graph(spec: Spec, *, check_budget: bool = True) -> nx.DiGraph:
    """Run every pass the spec asks for and return the final graph IR."""
    graph = build_graph(spec, check_budget=False)
    head_type = spec.head.type if spec.head is not None else None
    if spec.task == "segmentation" or head_type == "ssd":
        graph = fc_to_conv(graph)
    decoder = spec.decoder
    if decoder is not None and decoder.mirror:
        if decoder.upsample == "tied" and decoder.skips == "concat":
            raise SpecError.at(
                spec.source.locate(("decoder", "skips")),
                "tied decoder layers "
                "cannot read concatenated skips (expected skips: add or none "
                "with upsample: tied, got concat)",
            )
        graph = mirror_decoder(graph, decoder)
        graph = add_skips(graph, decoder.skips)
    if head_type == "ssd":
        graph = add_ssd_head(graph, spec)
    elif head_type == "yolo":
        graph = add_yolo_head(graph, spec)
    else:
        graph = add_head(graph, spec)
    if check_budget:
        enforce_budget(graph, spec)
    return graph


def compile_spec(
    spec_or_path: Spec | str | os.PathLike[str], *, load_weights: bool = True
) -> nn.Module:
    """Compile a spec (object, path or YAML text) into a runnable ``nn.Module``.

    For segmentation the module maps ``[N, C, H, W]`` images to ``[N, classes, H, W]``
    logits at the input's exact size. ``encoder_init`` weights are loaded unless
    ``load_weights`` is false."""
    spec = spec_or_path if isinstance(spec_or_path, Spec) else load_spec(spec_or_path)
    model = GraphNet(compile_graph(spec))
    if load_weights and spec.encoder_init is not None:
        base = Path(spec.source.file).parent if spec.source.file[:1] != "<" else Path.cwd()
        model.encoder_init_report = load_encoder_weights(model, spec, base)
    return model
