"""compiler: passes over the graphspec IR and emission to PyTorch.

``compile_spec`` is the entry point; each pass (``fc_to_conv``, ``mirror_decoder``,
``add_skips``, ``add_head``) is a function graph -> graph in its own module. The
compiler imports the spec language, never the benchmark harness.
"""

from compiler.emit import GraphNet, count_parameters
from compiler.fc_to_conv import classifier_to_fcn_state_dict, fc_to_conv
from compiler.heads import add_head
from compiler.mirror_decoder import mirror_decoder
from compiler.pipeline import compile_graph, compile_spec
from compiler.skips import add_skips

__all__ = [
    "GraphNet",
    "add_head",
    "add_skips",
    "classifier_to_fcn_state_dict",
    "compile_graph",
    "compile_spec",
    "count_parameters",
    "fc_to_conv",
    "mirror_decoder",
]
