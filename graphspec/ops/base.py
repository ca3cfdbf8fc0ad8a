"""The base of every op model: strict pydantic config, field types, the ``Op`` interface.

Spec models refuse unknown keys with a "did you mean" hint; kernel-like fields accept an
integer or an ``[h, w]`` pair; ``out`` accepts an integer or ``classes``. The concrete ops
live in the other modules of :mod:`graphspec.ops`, one family a file.

An op class carries everything the passes need to know about it as class-level traits
(:class:`Op`'s ``arity``, ``pointwise``, ``keeps_size``, ``mirror``), so no pass keeps a
list of op types of its own. Defining a subclass with an ``op`` name registers it for
specs (:func:`spec_ops`): the schema's layer union is built from that registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from graphspec.ops.names import LayerName

Shape = tuple[int, ...]
Pair = tuple[int, int]
MAX_INT = 2**31 - 1  # sizes beyond PyTorch's int32 indexing are typos, and keep floats finite


class ShapeError(ValueError):
    """An op cannot accept its input shapes; the graph builder adds the source location."""


class Strict(BaseModel):
    """Base for every spec model: frozen, strict types, unknown keys refused with a hint."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, populate_by_name=True, allow_inf_nan=False
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = {f.alias or name for name, f in cls.model_fields.items()}
            for key in data:
                if key not in allowed:
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key '{key}'{hint}",
                        {"key": str(key), "hint": _did_you_mean(str(key), sorted(allowed))},
                    )
        return data


def _did_you_mean(word: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'? expected one of: {', '.join(choices)})"
    return f" (expected one of: {', '.join(choices)})"


def _pair_of(minimum: int):
    def check(value: Any) -> Any:
        expected = f"an integer >= {minimum} or a pair [h, w] of them"
        items = value if isinstance(value, list | tuple) else [value, value]
        ok = len(items) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and minimum <= v <= MAX_INT
            for v in items
        )
        if not ok:
            raise PydanticCustomError(
                "pair",
                "invalid value (expected {expected}, got {got})",
                {"expected": expected, "got": repr(value)},
            )
        return (items[0], items[1])

    return BeforeValidator(check)


Size = Annotated[tuple[int, int], _pair_of(1)]
Padding = Annotated[tuple[int, int], _pair_of(0)]
PosInt = Annotated[int, Field(ge=1, le=MAX_INT)]


def _width(value: Any) -> Any:
    if value == "classes" or (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_INT
    ):
        return value
    raise PydanticCustomError(
        "width",
        "invalid value (expected an integer >= 1 or 'classes', got {got})",
        {"got": repr(value)},
    )


Width = Annotated[int | str, BeforeValidator(_width)]


def _out_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil: bool) -> int:
    """PyTorch's output length of a conv or pool along one axis."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + pad:  # last window must start inside the input
        out -= 1
    return out


def _spatial(shape: Shape, op: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(
            f"{op} needs a feature map C x H x W (expected 3 dimensions, "
            f"got a vector of {shape[0]}); remove the flatten before it"
        )
    return shape  # type: ignore[return-value]


MirrorRule = Literal["none", "follow", "conv", "max_pool", "avg_pool", "resize"]
"""How ``mirror_decoder`` treats an encoder layer: ``follow`` layers (norms, activations)
are repeated after the mirror of the conv they follow; ``conv``, ``max_pool`` and
``avg_pool`` layers are undone by the builder the pass's table gives for the decoder's
``upsample`` mode; ``resize`` layers are always undone by a resize; ``none`` are skipped."""

_SPEC_OPS: dict[str, type[Op]] = {}
_ON_NEW_OP: list[Callable[[], None]] = []


def spec_ops() -> dict[str, type[Op]]:
    """The ops a spec's encoder may use, by their ``op`` name, in definition order."""
    return dict(_SPEC_OPS)


def on_new_op(callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever an op class is registered (the schema rebuilds its union)."""
    _ON_NEW_OP.append(callback)


def forget_op(name: str) -> None:
    """Unregister a spec op (for tests that define a toy op) and rebuild what depends on it."""
    _SPEC_OPS.pop(name, None)
    for callback in _ON_NEW_OP:
        callback()


class Op(Strict):
    """Common fields: ``op`` (the op's one name, the discriminator in YAML), an optional
    ``name`` (for references; not a keyword, ``input``, an ``nn.Module`` attribute such as
    ``forward``, ``__``-prefixed or a compiler prefix: see docs/limits.md) and ``from``
    (inputs other than the previous layer).

    Traits, read by the graph builder and the passes:

    * ``arity``: number of inputs (``None``: two or more, e.g. ``add``);
    * ``in_spec``: whether a spec may use it (IR-only ops are created by passes);
    * ``pointwise``: value by value, same shape, on maps and on vectors alike (so
      ``fc_to_conv`` keeps it between a flatten and a linear);
    * ``keeps_size``: never changes the spatial size (``mirror_decoder`` skips it);
    * ``mirror``: a :data:`MirrorRule`;
    * ``restarts_field``: the output is in a frame of its own (an RoI op's bins, a crop),
      so receptive field and stride start over at one cell.
    """

    arity: ClassVar[int | None] = 1
    in_spec: ClassVar[bool] = True
    pointwise: ClassVar[bool] = False
    keeps_size: ClassVar[bool] = False
    mirror: ClassVar[MirrorRule] = "none"
    restarts_field: ClassVar[bool] = False
    op: str
    name: LayerName | None = None
    from_: str | list[str] | None = Field(default=None, alias="from")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.model_fields["op"].default
        if cls.in_spec and isinstance(name, str):
            _SPEC_OPS[name] = cls
            for callback in _ON_NEW_OP:
                callback()

    def infer(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def param_count(self, inputs: list[Shape], out: Shape) -> int:
        return 0

    def flops(self, inputs: list[Shape], out: Shape) -> int:
        return 0

    def window(self) -> tuple[Pair, Pair] | None:
        """(effective kernel, stride) for receptive-field bookkeeping; None = pointwise."""
        return None

    def inputs_named(self) -> list[str]:
        if self.from_ is None:
            return []
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)
