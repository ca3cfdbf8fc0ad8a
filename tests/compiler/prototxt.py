"""A minimal Caffe prototxt reader and a per-layer parameter count, for the tests that
hold graphspec's reproductions of published Caffe networks against the original files.

The counts must come from the prototxt text alone, never from graphspec, or the test
would compare graphspec with itself. So this module imports nothing of the project: it
reads the protobuf text format (``key: value`` scalars, ``key { ... }`` messages, repeated
keys, quoted strings, ``#`` comments) and walks the layers in order, tracking each blob's
``(C, H, W)`` from the image input, which is all a layer's parameter count depends on.
Both the current ``layer { type: "Convolution" }`` form and the old
``layers { type: CONVOLUTION }`` form are read.

A layer type this module does not know is an error, not zero parameters: a BatchNorm or
Scale layer slipping through uncounted would make a wrong total look right.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

Scalar = str | int | float
Shape = tuple[int, int, int]

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*                    # blanks and comments: skipped
    |(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<punct>[{}:<>;,])
    |(?P<word>[A-Za-z0-9_.+\-/]+)""",
    re.VERBOSE,
)
_INT = re.compile(r"[+-]?(?:0x[0-9a-fA-F]+|\d+)")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fF]?|[+-]?inf|nan")


@dataclass
class Message:
    """One protobuf text message: its fields in file order, repeated keys kept."""

    fields: list[tuple[str, Scalar | Message]] = field(default_factory=list)

    def all(self, key: str) -> list[Scalar | Message]:
        """Every value of ``key``, in order (a repeated field)."""
        return [v for k, v in self.fields if k == key]

    def get(self, key: str, default: Scalar | Message | None = None) -> Scalar | Message | None:
        """The one value of ``key`` or ``default``; a singular key given twice is an error
        rather than a silent pick, since Caffe itself would refuse the file."""
        values = self.all(key)
        if len(values) > 1:
            raise ValueError(f"{key!r} given {len(values)} times")
        return values[0] if values else default

    def msg(self, key: str) -> Message:
        """The sub-message ``key``, empty when absent (proto defaults then apply)."""
        value = self.get(key, Message())
        if not isinstance(value, Message):
            raise ValueError(f"{key!r} is a scalar, not a message")
        return value


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            line = text.count("\n", 0, pos) + 1
            raise ValueError(f"line {line}: cannot read {text[pos : pos + 20]!r}")
        pos = m.end()
        if m.lastgroup is not None:
            yield m.lastgroup, m.group(m.lastgroup)


def _scalar(kind: str, raw: str) -> Scalar:
    if kind == "str":
        return bytes(raw[1:-1], "utf-8").decode("unicode_escape")
    if _INT.fullmatch(raw):
        return int(raw, 0)
    if _FLOAT.fullmatch(raw):
        return float(raw.rstrip("fF"))
    return raw  # an enum value (MAX, CONVOLUTION) or true/false


def parse(text: str) -> Message:
    """Parse protobuf text format into nested :class:`Message` values."""
    stack = [Message()]
    tokens = _tokens(text)
    for kind, raw in tokens:
        if kind == "punct" and raw in "}>":
            if len(stack) == 1:
                raise ValueError(f"unbalanced {raw!r}")
            stack.pop()
            continue
        if kind == "punct" and raw in ";,":
            continue
        if kind != "word":
            raise ValueError(f"expected a field name, got {raw!r}")
        key = raw
        kind, raw = next(tokens)
        if raw == ":":
            kind, raw = next(tokens)
        if kind == "punct" and raw in "{<":
            child = Message()
            stack[-1].fields.append((key, child))
            stack.append(child)
        elif kind in ("str", "word"):
            stack[-1].fields.append((key, _scalar(kind, raw)))
        else:
            raise ValueError(f"{key!r}: unexpected {raw!r}")
    if len(stack) != 1:
        raise ValueError("unclosed message at end of text")
    return stack[0]


# The old (V1) ``layers { type: ENUM }`` names of the types counted below.
V1_TYPES = {
    "CONVOLUTION": "Convolution",
    "INNER_PRODUCT": "InnerProduct",
    "POOLING": "Pooling",
    "RELU": "ReLU",
    "DROPOUT": "Dropout",
    "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "DATA": "Data",
    "IMAGE_DATA": "ImageData",
    "WINDOW_DATA": "WindowData",
    "MEMORY_DATA": "MemoryData",
    "HDF5_DATA": "HDF5Data",
    "ACCURACY": "Accuracy",
    "EUCLIDEAN_LOSS": "EuclideanLoss",
}
SAME_SHAPE = {"ReLU", "Dropout", "Softmax", "Sigmoid", "TanH", "LRN"}
"""Parameter-free layers whose top has the bottom's shape."""
NO_SHAPE = {
    "Python", "Data", "ImageData", "WindowData", "MemoryData", "HDF5Data", "Input",
    "Reshape", "SoftmaxWithLoss", "SmoothL1Loss", "EuclideanLoss", "Accuracy", "Silence",
}  # fmt: skip
"""Parameter-free layers whose tops no counted layer reads a size from (data, proposal
and target layers, reshapes for the RPN softmax, losses): their tops get no shape."""


@dataclass
class Walk:
    """What :func:`walk` learnt: each layer's parameters in file order, each blob's last
    ``(C, H, W)`` (``None`` where unknown), and each layer's raw message."""

    params: dict[str, int]
    blobs: dict[str, Shape | None]
    layers: dict[str, Message]
    types: dict[str, str]


def layers(net: Message) -> list[Message]:
    """The net's layers, from ``layer`` or from the old ``layers`` blocks."""
    found = net.all("layer") or net.all("layers")
    return [m for m in found if isinstance(m, Message)]


def layer_type(layer: Message) -> str:
    """The layer's type in the current spelling (``CONVOLUTION`` -> ``Convolution``)."""
    raw = str(layer.get("type"))
    return V1_TYPES.get(raw, raw)


def _ints(msg: Message, key: str, one: str, other: str, default: int) -> tuple[int, int]:
    """Caffe's (h, w) of a repeated ``key`` or its ``key_h``/``key_w`` pair."""
    if msg.get(one) is not None or msg.get(other) is not None:
        return int(msg.get(one, default)), int(msg.get(other, default))  # type: ignore[arg-type]
    values = [int(v) for v in msg.all(key)]  # type: ignore[arg-type]
    if len(values) > 2:
        raise ValueError(f"{key}: {len(values)} values for a 2-D layer")
    if not values:
        return default, default
    return (values[0], values[-1])


def _bias(param: Message) -> bool:
    return str(param.get("bias_term", "true")).lower() not in ("false", "0")


def _conv(layer: Message, bottom: Shape) -> tuple[int, Shape]:
    p = layer.msg("convolution_param")
    out, group = int(p.get("num_output")), int(p.get("group", 1))  # type: ignore[arg-type]
    kh, kw = _ints(p, "kernel_size", "kernel_h", "kernel_w", 0)
    ph, pw = _ints(p, "pad", "pad_h", "pad_w", 0)
    sh, sw = _ints(p, "stride", "stride_h", "stride_w", 1)
    dh, dw = _ints(p, "dilation", "dilation_h", "dilation_w", 1)
    c, h, w = bottom
    if c % group or out % group or min(kh, kw) < 1:
        raise ValueError(f"bad convolution: {c} -> {out} in {group} groups, kernel {kh}x{kw}")
    params = out * (c // group) * kh * kw + (out if _bias(p) else 0)
    size = ((h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1)
    return params, (out, *size)


def _pool_side(n: int, k: int, s: int, p: int) -> int:
    """Caffe's pooled size: rounded up, then the last window dropped if it would start in
    the padding (pooling_layer.cpp), unlike PyTorch's default floor."""
    out = math.ceil((n + 2 * p - k) / s) + 1
    return out - 1 if p and (out - 1) * s >= n + p else out


def _pool(layer: Message, bottom: Shape) -> Shape:
    p = layer.msg("pooling_param")
    c, h, w = bottom
    if str(p.get("global_pooling", "false")).lower() == "true":
        return (c, 1, 1)
    kh, kw = _ints(p, "kernel_size", "kernel_h", "kernel_w", 0)
    ph, pw = _ints(p, "pad", "pad_h", "pad_w", 0)
    sh, sw = _ints(p, "stride", "stride_h", "stride_w", 1)
    return (c, _pool_side(h, kh, sh, ph), _pool_side(w, kw, sw, pw))


def _inner_product(layer: Message, bottom: Shape) -> tuple[int, Shape]:
    p = layer.msg("inner_product_param")
    out = int(p.get("num_output"))  # type: ignore[arg-type]
    return out * math.prod(bottom) + (out if _bias(p) else 0), (out, 1, 1)


def _roi_pool(layer: Message, bottom: Shape) -> Shape:
    p = layer.msg("roi_pooling_param")
    return (bottom[0], int(p.get("pooled_h")), int(p.get("pooled_w")))  # type: ignore[arg-type]


def _one_layer(layer: Message, kind: str, bottoms: list[Shape | None]) -> tuple[int, Shape | None]:
    """(parameters, top shape) of one layer given its bottoms' shapes."""
    if kind in NO_SHAPE:
        return 0, None
    first = bottoms[0] if bottoms else None
    if kind in SAME_SHAPE:
        return 0, first
    if first is None:
        raise ValueError(f"{kind} layer reads a blob of unknown size")
    if kind == "Convolution":
        return _conv(layer, first)
    if kind == "InnerProduct":
        return _inner_product(layer, first)
    if kind == "Pooling":
        return 0, _pool(layer, first)
    if kind == "ROIPooling":
        return 0, _roi_pool(layer, first)
    raise ValueError(f"layer type {kind!r} is not counted here")


def _in_phase(layer: Message, phase: str) -> bool:
    """Whether the layer is in the ``phase`` net (``include { phase: TEST }`` is not)."""
    phases = [str(m.get("phase")) for m in layer.all("include") if isinstance(m, Message)]
    return not phases or phase in phases


def walk(net: Message, inputs: Mapping[str, Shape], phase: str = "TRAIN") -> Walk:
    """Walk the layers of the ``phase`` net in file order from the image blobs
    ``inputs`` (e.g. ``{"data": (3, 600, 1000)}``: a Python data layer states no size)
    and count each layer's parameters: Convolution ``out * in / group * kh * kw (+ out
    bias)``, InnerProduct ``out * C*H*W of its bottom (+ out)``, every other known type 0.
    """
    blobs: dict[str, Shape | None] = dict(inputs)
    result = Walk(params={}, blobs=blobs, layers={}, types={})
    for layer in layers(net):
        name, kind = str(layer.get("name")), layer_type(layer)
        if not _in_phase(layer, phase):
            continue
        if name in result.params:
            raise ValueError(f"two layers named {name!r}")
        params, top = _one_layer(layer, kind, [blobs.get(str(b)) for b in layer.all("bottom")])
        result.params[name], result.layers[name], result.types[name] = params, layer, kind
        for t in map(str, layer.all("top")):
            # A data layer's image top keeps the size the caller gave it.
            blobs[t] = inputs[t] if top is None and t in inputs else top
    return result


def param_counts(text: str, inputs: Mapping[str, Shape]) -> dict[str, int]:
    """Layer name -> parameter count, in file order, of the prototxt ``text``."""
    return walk(parse(text), inputs).params
