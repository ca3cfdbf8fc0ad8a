"""compiler: passes over the graphspec IR and emission to PyTorch.

``compile_spec`` is the entry point and :mod:`compiler.driver` the pass order. The
package is grouped by concern: :mod:`compiler.passes` (one pass a file, each
``(Graph, Spec) -> Graph``), :mod:`compiler.emit` (GraphNet, the op-to-module rules,
source and ONNX), :mod:`compiler.detection` (anchors, box ops and coding, losses,
decoding) and :mod:`compiler.ops` (the runtime ops generated code imports). The
compiler imports the spec language, never the benchmark harness or the CLI.

Attributes load on first use (PEP 562), so ``graphspec check``, which only runs the passes,
never imports torch: ``from compiler import compile_graph`` costs the passes alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "PASSES": "compiler.driver",
    "compile_graph": "compiler.driver",
    "compile_spec": "compiler.driver",
    "GraphNet": "compiler.emit",
    "TwoStageNet": "compiler.emit",
    "build_network": "compiler.emit",
    "count_parameters": "compiler.emit",
    "add_rcnn_head": "compiler.passes",
    "add_segmentation_head": "compiler.passes",
    "add_skips": "compiler.passes",
    "add_ssd_head": "compiler.passes",
    "add_yolo_head": "compiler.passes",
    "classifier_to_fcn_state_dict": "compiler.passes",
    "fc_to_conv": "compiler.passes",
    "mirror_decoder": "compiler.passes",
}

if TYPE_CHECKING:
    from compiler.driver import PASSES, compile_graph, compile_spec
    from compiler.emit import GraphNet, TwoStageNet, build_network, count_parameters
    from compiler.passes import (
        add_rcnn_head,
        add_segmentation_head,
        add_skips,
        add_ssd_head,
        add_yolo_head,
        classifier_to_fcn_state_dict,
        fc_to_conv,
        mirror_decoder,
    )

__all__ = [
    "GraphNet",
    "PASSES",
    "TwoStageNet",
    "add_rcnn_head",
    "add_segmentation_head",
    "add_skips",
    "add_ssd_head",
    "add_yolo_head",
    "build_network",
    "classifier_to_fcn_state_dict",
    "compile_graph",
    "compile_spec",
    "count_parameters",
    "fc_to_conv",
    "mirror_decoder",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'compiler' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
