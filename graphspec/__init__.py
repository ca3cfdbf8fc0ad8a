"""graphspec: a declarative spec language for dense-prediction CNN encoders.

``load_spec`` reads and validates a YAML spec, ``build_graph`` turns it into the graph
IR with exact shapes and costs. This package never imports the compiler or the harness.
"""

from graphspec.errors import SourceLocation, SpecError, SpecIssue
from graphspec.graph import build_graph, infer_shapes, inputs_of, totals
from graphspec.loader import load_spec
from graphspec.schema import Spec

__all__ = [
    "SourceLocation",
    "Spec",
    "SpecError",
    "SpecIssue",
    "build_graph",
    "infer_shapes",
    "inputs_of",
    "load_spec",
    "totals",
]
