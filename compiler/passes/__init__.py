"""Compiler passes: each a function ``(Graph, Spec) -> Graph`` in a module of its own.

A pass returns its input unchanged when the spec does not ask for it, and otherwise a
rewritten copy. :mod:`compiler.driver` runs them in one explicit order.
"""

from compiler.passes.fc_to_conv import classifier_to_fcn_state_dict, fc_to_conv
from compiler.passes.mirror_decoder import main_chain, mirror_decoder
from compiler.passes.rcnn_head import add_rcnn_head, build_spec
from compiler.passes.segmentation_head import add_segmentation_head
from compiler.passes.skips import add_skips
from compiler.passes.ssd_head import add_ssd_head
from compiler.passes.yolo_head import add_yolo_head

__all__ = [
    "add_rcnn_head",
    "add_segmentation_head",
    "add_skips",
    "add_ssd_head",
    "add_yolo_head",
    "build_spec",
    "classifier_to_fcn_state_dict",
    "fc_to_conv",
    "main_chain",
    "mirror_decoder",
]
