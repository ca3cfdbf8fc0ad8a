"""compiler: passes over the graphspec IR and emission to PyTorch.

``compile_spec`` is the entry point and :mod:`compiler.driver` the pass order. The
package is grouped by concern: :mod:`compiler.passes` (one pass a file, each
``(Graph, Spec) -> Graph``), :mod:`compiler.emit` (GraphNet, the op-to-module rules,
source and ONNX), :mod:`compiler.detection` (anchors, box ops and coding, losses,
decoding) and :mod:`compiler.ops` (the runtime ops generated code imports). The
compiler imports the spec language, never the benchmark harness or the CLI.
"""

from compiler.driver import PASSES, compile_graph, compile_spec
from compiler.emit import GraphNet, count_parameters
from compiler.passes import (
    add_segmentation_head,
    add_skips,
    add_ssd_head,
    add_yolo_head,
    classifier_to_fcn_state_dict,
    fc_to_conv,
    mirror_decoder,
)

__all__ = [
    "PASSES",
    "GraphNet",
    "add_segmentation_head",
    "add_skips",
    "add_ssd_head",
    "add_yolo_head",
    "classifier_to_fcn_state_dict",
    "compile_graph",
    "compile_spec",
    "count_parameters",
    "fc_to_conv",
    "mirror_decoder",
]
