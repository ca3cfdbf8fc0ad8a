"""Emission: the graph IR as a runnable ``nn.Module`` (:class:`GraphNet`), as readable
PyTorch source (:func:`generate_source`) and as ONNX (:func:`export_onnx`). All three
build each node's module from the same :func:`module_call` rule, so they cannot drift."""

from compiler.emit.codegen import generate_source
from compiler.emit.graphnet import GraphNet, Step, count_parameters, example_input, plan_steps
from compiler.emit.modules import ModuleCall, module_call
from compiler.emit.network import build_network
from compiler.emit.onnx import export_onnx
from compiler.emit.two_stage import TwoStageNet, TwoStageOutput

__all__ = [
    "GraphNet",
    "ModuleCall",
    "Step",
    "TwoStageNet",
    "TwoStageOutput",
    "build_network",
    "count_parameters",
    "example_input",
    "export_onnx",
    "generate_source",
    "module_call",
    "plan_steps",
]
