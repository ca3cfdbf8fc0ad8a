"""graphspec: a declarative spec language for dense-prediction CNN encoders.

``load_spec`` reads and validates a YAML spec; ``build_graph`` turns it into the graph
IR (:class:`Graph` of typed :class:`Node`) with exact shapes and costs. This package
never imports the compiler, the harness or the CLI (``graphspec.cli`` is the one part
that sees all three).
"""

from graphspec.budget import Totals, enforce_budget, totals
from graphspec.build import build_graph
from graphspec.errors import SourceLocation, SpecError, SpecIssue
from graphspec.ir import INPUT, DetectionHead, Graph, Node
from graphspec.loader import load_spec
from graphspec.schema import Spec
from graphspec.shapes import infer_node, infer_shapes

__all__ = [
    "INPUT",
    "DetectionHead",
    "Graph",
    "Node",
    "SourceLocation",
    "Spec",
    "SpecError",
    "SpecIssue",
    "Totals",
    "build_graph",
    "enforce_budget",
    "infer_node",
    "infer_shapes",
    "load_spec",
    "totals",
]
