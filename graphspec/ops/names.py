"""The one rule for layer and stage names: what may become a module attribute.

A layer's name is the attribute its submodule is registered under (``model.conv1``), the
key prefix in the ``state_dict`` and ``self.<name>`` in generated source, so a name must
work in all of them: a Python identifier, not a keyword, not an ``nn.Module`` attribute
(``forward``, ``training``, ``state_dict``, ...), not ``GraphNet``'s own, not starting with
``__`` (Python mangles ``self.__x`` inside a class body), not the image node ``input``, and
not a prefix the compiler names its own layers with. The schema applies it, so ``check``,
``compile_spec``, codegen and ONNX export agree on every name.

graphspec never imports torch, so the ``nn.Module`` attributes are written out here;
``tests/spec/test_names.py`` compares the list with ``dir(torch.nn.Module())``.
"""

from __future__ import annotations

import keyword
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
IMAGE_NODE = "input"
"""The name of the graph's image node (``graphspec.ir.INPUT``)."""
RESERVED_PREFIXES = ("dec_", "skip_", "head", "ssd_", "yolo_")
"""Prefixes of the names compiler passes give the nodes they add."""

NN_MODULE_ATTRIBUTES = frozenset(
    [
        "T_destination",
        "_apply",
        "_backward_hooks",
        "_backward_pre_hooks",
        "_buffers",
        "_call_impl",
        "_compiled_call_impl",
        "_forward_hooks",
        "_forward_hooks_always_called",
        "_forward_hooks_with_kwargs",
        "_forward_pre_hooks",
        "_forward_pre_hooks_with_kwargs",
        "_get_backward_hooks",
        "_get_backward_pre_hooks",
        "_get_name",
        "_is_full_backward_hook",
        "_load_from_state_dict",
        "_load_state_dict_post_hooks",
        "_load_state_dict_pre_hooks",
        "_maybe_warn_non_full_backward_hook",
        "_modules",
        "_named_members",
        "_non_persistent_buffers_set",
        "_parameters",
        "_register_load_state_dict_pre_hook",
        "_register_state_dict_hook",
        "_replicate_for_data_parallel",
        "_save_to_state_dict",
        "_slow_forward",
        "_state_dict_hooks",
        "_state_dict_pre_hooks",
        "_version",
        "_wrapped_call_impl",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    ]
)
"""Every non-dunder attribute of an ``nn.Module`` instance (torch 2.x)."""
GRAPHNET_ATTRIBUTES = frozenset({"graph", "steps", "outputs", "spec_name", "encoder_init_report"})
"""What ``compiler.emit.GraphNet`` stores on itself besides its layers."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a layer or stage (a clause for "reserved name 'x': ..."),
    or None when it can."""
    if not re.match(IDENT, name):
        return "not a Python identifier"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "a Python keyword"
    if name == IMAGE_NODE:
        return "the name of the image node"
    if name.startswith("__"):
        return "it starts with '__', which Python mangles inside a class"
    if name in NN_MODULE_ATTRIBUTES:
        return "an attribute of torch.nn.Module"
    if name in GRAPHNET_ATTRIBUTES:
        return "an attribute of the compiled GraphNet"
    prefix = next(p for p in (*RESERVED_PREFIXES, "") if name.startswith(p))
    if prefix:
        return f"it starts with '{prefix}', a prefix the compiler names its own layers with"
    return None


def _check_name(value: Any) -> Any:
    problem = name_problem(value)
    if problem is not None:
        raise PydanticCustomError(
            "name",
            "reserved name '{name}': {problem} (expected another name)",
            {"name": value, "problem": problem},
        )
    return value


LayerName = Annotated[str, Field(pattern=IDENT), AfterValidator(_check_name)]
"""A layer or stage name: an identifier :func:`name_problem` accepts."""
