"""Adding an op is one op class plus one emission rule (docs/adding-an-op.md).

The test follows the document: it defines a toy ``hardtanh`` op (a clamp, pointwise, so
fc_to_conv keeps it and a mirrored decoder repeats it after each conv), registers its
emission rule, and compiles, summarises and emits source for a spec that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

import pytest
import torch
from torch import nn

from compiler import GraphNet, compile_graph
from compiler.emit import ModuleCall, generate_source, module_call
from graphspec import SpecError, load_spec
from graphspec.ops import MirrorRule, Op, Shape, forget_op, spec_ops
from graphspec.summary import format_summary, summary_rows

SPEC = """\
name: toy-op
task: segmentation
input: {channels: 1, height: 8, width: 8}
classes: 2
encoder:
  - stage: s
    layers:
      - {op: conv, out: 4, kernel: 3, padding: 1}
      - {op: hardtanh, min: -0.5, max: 0.5}
      - {op: maxpool, kernel: 2}
decoder: {upsample: unpool}
head: {type: segmentation}
"""


@pytest.fixture
def hardtanh() -> Iterator[type[Op]]:
    """Step 1 (the op class) and step 2 (its emission rule), undone after the test."""

    class HardTanh(Op):
        """Clamp every value to [min, max]."""

        pointwise: ClassVar[bool] = True
        keeps_size: ClassVar[bool] = True
        mirror: ClassVar[MirrorRule] = "follow"
        op: Literal["hardtanh"] = "hardtanh"
        min: float = -1.0
        max: float = 1.0

    def emit(op: HardTanh, inputs: list[Shape], out: Shape) -> ModuleCall:
        return ModuleCall(nn.Hardtanh, dict(min_val=op.min, max_val=op.max))

    module_call.register(HardTanh, emit)
    yield HardTanh
    forget_op("hardtanh")
    with pytest.raises(SpecError, match="unknown op 'hardtanh'"):
        load_spec(SPEC)  # the schema is rebuilt without it


def test_unknown_before_it_is_added() -> None:
    with pytest.raises(SpecError, match="unknown op 'hardtanh'"):
        load_spec(SPEC)


def test_toy_op_compiles_summarises_and_emits(hardtanh: type[Op]) -> None:
    assert spec_ops()["hardtanh"] is hardtanh
    graph = compile_graph(load_spec(SPEC))
    ops = [node.op.op for node in graph.topological()]
    # The mirror repeats the clamp after the decoder conv, because its trait says "follow".
    assert ops == [
        "input", "conv", "hardtanh", "maxpool", "max_unpool", "conv", "hardtanh", "conv",
    ]  # fmt: skip
    rows = {row["name"]: row for row in summary_rows(graph)}
    assert rows["s_1"]["op"] == "hardtanh" and rows["s_1"]["shape"] == [4, 8, 8]
    assert "hardtanh" in format_summary(graph)

    model = GraphNet(graph).eval()
    source = generate_source(graph)
    assert "nn.Hardtanh(min_val=-0.5, max_val=0.5)" in source
    namespace: dict[str, object] = {}
    exec(compile(source, "<generated>", "exec"), namespace)
    generated = namespace["ToyOp"]()  # type: ignore[operator]
    generated.load_state_dict(model.state_dict())
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        expected = model(x)
        assert torch.equal(generated.eval()(x), expected)
    # The clamp really runs: the conv's output is bounded before pooling.
    with torch.no_grad():
        clamped = model.s_1(model.s_0(x))
    assert clamped.abs().max() <= 0.5


def test_fields_are_validated_like_every_op(hardtanh: type[Op]) -> None:
    with pytest.raises(SpecError, match="unknown key 'maximum'"):
        load_spec(SPEC.replace("max: 0.5", "maximum: 0.5"))
