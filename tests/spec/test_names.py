"""Layer and stage names: one rule (graphspec.ops.names) for check, compile and codegen.

A name becomes a module attribute, a state_dict key and ``self.<name>`` in generated
source, so names that cannot be all three are refused by the schema, at their line.
Long spec names still give valid generated source.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from compiler import compile_graph, compile_spec
from compiler.emit.codegen import class_name_for, generate_source
from graphspec import SpecError, load_spec
from graphspec.ops.names import NN_MODULE_ATTRIBUTES, name_problem

SPEC = textwrap.dedent(
    """\
    name: {spec_name}
    task: segmentation
    input: {{channels: 3, height: 8, width: 8}}
    classes: 2
    encoder:
      - stage: {stage}
        layers:
          - {{op: conv, out: 4, kernel: 3, padding: 1, name: {layer}}}
          - {{op: maxpool, kernel: 2, name: p1}}
    decoder: {{upsample: unpool}}
    head: {{type: segmentation}}
    """
)


def _text(layer: str = "c1", stage: str = "s", spec_name: str = "names") -> str:
    return SPEC.format(layer=layer, stage=stage, spec_name=spec_name)


def test_the_nn_module_list_matches_torch() -> None:
    """graphspec does not import torch, so the list is written out; it must cover every
    non-dunder attribute a fresh nn.Module has in the installed torch."""
    module = nn.Module()
    actual = {n for n in {*dir(module), *vars(module)} if not n.startswith("__")}
    assert actual - NN_MODULE_ATTRIBUTES == set()
    assert {"forward", "training", "parameters", "state_dict"} <= NN_MODULE_ATTRIBUTES


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("forward", "an attribute of torch.nn.Module"),
        ("training", "an attribute of torch.nn.Module"),
        ("state_dict", "an attribute of torch.nn.Module"),
        ("_modules", "an attribute of torch.nn.Module"),
        ("graph", "an attribute of the compiled GraphNet"),
        ("__x", "starts with '__'"),
        ("lambda", "a Python keyword"),
        ("input", "the name of the image node"),
        ("dec_x", "starts with 'dec_'"),
    ],
)
def test_reserved_layer_names_are_refused_at_their_line(name: str, reason: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(_text(layer=name))
    err = info.value
    assert (err.line, err.key_path) == (8, "encoder[0].layers[0].name")
    assert err.message.startswith(f"reserved name '{name}': ") and reason in err.message


@pytest.mark.parametrize("stage", ["__s", "forward", "_"])
def test_reserved_stage_names_are_refused(stage: str) -> None:
    # Stage "_" would name its unnamed layers "__0", "__1": mangled inside a class.
    with pytest.raises(SpecError) as info:
        load_spec(_text(stage=stage))
    assert (info.value.line, info.value.key_path) == (6, "encoder[0].stage")


@pytest.mark.parametrize("name", ["c1", "_private", "Conv_1", "x__y", "forward_pass"])
def test_ordinary_names_are_accepted(name: str) -> None:
    assert name_problem(name) is None
    compile_graph(load_spec(_text(layer=name)))


def _run_generated(source: str, cls: str) -> type[nn.Module]:
    namespace: dict[str, object] = {}
    exec(compile(source, "<generated>", "exec"), namespace)
    return namespace[cls]  # type: ignore[return-value]


@pytest.mark.parametrize("length", [83, 120, 300])
def test_long_spec_names_give_valid_source_that_loads_graphnet_weights(length: int) -> None:
    spec_name = "n" * length
    text = _text(spec_name=spec_name, layer="_c1")
    cls = class_name_for(spec_name)
    assert len(f"class {cls}(nn.Module):") > 100  # longer than the wrap limit
    source = generate_source(compile_graph(load_spec(text)))
    torch.manual_seed(0)
    compiled = compile_spec(text).eval()
    generated = _run_generated(source, cls)().eval()
    generated.load_state_dict(compiled.state_dict())
    assert set(generated.state_dict()) == set(compiled.state_dict())
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(generated(x), compiled(x))
