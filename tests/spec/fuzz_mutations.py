"""Mutators of the reference specs for the whole-path fuzz (:mod:`tests.spec.fuzz`). Two levels,
as each finds what the other cannot: *text* mutations (truncation, duplicate keys, aliases
and alias bombs, number swaps) break the YAML; *data* mutations (type swaps, hostile
numbers, overflowing scales, name collisions, moved/duplicated/deleted layers and stages,
swapped ops, op options) keep it valid YAML and reach the builder, passes and emission.
One seeded ``random.Random`` per case, so a seed reproduces a case exactly."""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from tests import REPO

SPECS = REPO / "specs"
INT32 = 2**31 - 1
# fmt: off
HOSTILE = [-1, 0, 1, 2, 3, -64, INT32, INT32 + 1, 2**63, -(2**31), 10**30, 10**400, 1e10,
           1e308, -1e308, 1e-308, 0.5, 1.5, -0.0, float("nan"), float("inf"), float("-inf")]
SWAPS = [None, True, False, "classes", "x", "", [], {}, [3, 3], [1, 2, 3], [[2]], {"a": 1},
         "1e308", "nan", ".inf", 3.0, 7]
NAMES = ["input", "x", "self", "torch", "nn", "ops", "forward", "training", "graph", "steps",
         "outputs", "class", "lambda", "None", "pool1", "map8", "fc1", "fc6", "x_", "env",
         "output", "scores", "offsets", "_", "dec_pool1", "pool1_indices", "a" * 300]
EXTRA_LAYERS = [
    {"op": "flatten"}, {"op": "linear", "out": "classes"}, {"op": "linear", "out": 10},
    {"op": "upsample", "scale": INT32}, {"op": "upsample", "scale": 2},
    {"op": "upsample", "scale": 1e308}, {"op": "adaptive_avgpool", "size": 1},
    {"op": "maxpool", "kernel": 2, "stride": 2}, {"op": "conv", "out": INT32, "kernel": 1},
    {"op": "conv", "out": 8, "kernel": 3, "padding": 1, "from": "input"},
    {"op": "conv_transpose", "out": 8, "kernel": 2, "stride": 2},
    {"op": "add", "from": ["pool1", "pool2"]}, {"op": "concat", "from": ["input", "input"]},
    {"op": "dropout", "p": 1.5}, {"op": "batchnorm"}, {"op": "relu", "name": "pool1"},
    {"op": "avgpool", "kernel": 10**9}, {"op": "conv", "out": 4, "kernel": 1, "dilation": INT32},
    {"op": "maxpool", "kernel": 3, "stride": 1, "padding": 2}, {"op": "flatten", "name": "fl"}]
OPS = ["conv", "conv_transpose", "flatten", "linear", "add", "concat", "batchnorm", "relu",
       "leaky_relu", "gelu", "silu", "sigmoid", "dropout", "maxpool", "avgpool",
       "adaptive_avgpool", "upsample", "maxunpool", "l2norm", "nope"]
SECTIONS = [
    ("decoder", {"upsample": "transposed", "skips": "concat"}),
    ("decoder", {"upsample": "tied", "skips": "add"}), ("decoder", {"upsample": "unpool"}),
    ("decoder", {"upsample": "bilinear", "skips": "none", "batchnorm": False}),
    ("head", {"type": "segmentation", "fuse": True}), ("head", {"type": "fcn", "skips": ["pool1"]}),
    ("head", {"type": "yolo", "grid": 2, "boxes": INT32}), ("head", {"type": "classification"}),
    ("head", {"type": "ssd", "sources": ["pool1"], "anchors": {"aspect_ratios": [[2]]}}),
    ("task", "segmentation"), ("task", "detection"), ("task", "classification"),
    ("classes", INT32), ("classes", 10**6), ("budget", {"max_params": 1e308, "max_gflops": 1e-300}),
    ("scale", {"width": 1e308}), ("scale", {"width": 1e10}), ("scale", {"width": 1e-9}),
    ("scale", {"width": float("nan")}), ("scale", {"width": float("inf")}),
    ("input", {"channels": 3, "height": INT32, "width": 1}), ("input", {"height": 1, "width": 1}),
    ("train", {"epochs": 10**9, "lr": float("nan")}),
    ("encoder_init", {"checkpoint": "/nonexistent.pt"}),
]
_GEOMETRY = ["kernel", "stride", "padding", "dilation"]
OPTIONS = {"conv": [*_GEOMETRY, "groups", "bias", "out"], "maxpool": [*_GEOMETRY, "ceil_mode"],
           "conv_transpose": [*_GEOMETRY, "groups", "output_padding", "out"],
           "avgpool": ["kernel", "stride", "padding", "ceil_mode", "count_include_pad"],
           "adaptive_avgpool": ["size"], "upsample": ["scale", "size", "mode"],
           "linear": ["out", "in", "bias"], "batchnorm": ["eps", "momentum"], "dropout": ["p"]}
VALUES: dict[str, list[Any]] = {
    "kernel": [1, 2, 3, 5, [1, 3], [3, 1], 64], "stride": [1, 2, 3, [2, 1]], "size": [1, 3, [1, 2]],
    "padding": [0, 1, 2, 3, [0, 2], 10], "dilation": [1, 2, 3, [2, 1]], "groups": [2, 3, 4, 16],
    "output_padding": [0, 1, 2, [1, 0]], "out": [1, 3, 7, 64, "classes"], "in": [1, 8, 64],
    "scale": [1, 2, 3, [2, 1]], "mode": ["nearest", "bilinear"], "eps": [1e-30, 1.0],
    "momentum": [0.0, 1.0], "p": [0.0, 0.999], "from": ["input", ["input", "input"]],
}
# fmt: on
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
KEY_LINE = re.compile(r"^(\s*)(-\s+)?([A-Za-z_]+):(.*)$")
FLOW_ITEM = re.compile(r"^(\s*)- (\{.*\})\s*$")


@dataclass(frozen=True)
class Case:
    """One fuzz input: its number, the spec it came from, what was done, the text."""

    index: int
    base: str
    mutations: tuple[str, ...]
    text: str


def corpus() -> dict[str, str]:
    """The reference specs, without full-line comments (mutating them is wasted time)."""
    return {
        p.stem: "".join(ln for ln in p.read_text("utf-8").splitlines(True) if ln.strip()[:1] != "#")
        for p in sorted(SPECS.glob("*.yaml"))
    }


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``data`` (containers and leaves), root excluded."""
    found: list[tuple[Any, ...]] = []
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        found.append((*prefix, key))
        if isinstance(value, dict | list) and value:
            found += _paths(value, (*prefix, key))
    return found


def _layers(data: dict[str, Any]) -> list[tuple[list[Any], int]]:
    """(layer list, index) of every layer of every stage."""
    stages = data.get("encoder") if isinstance(data.get("encoder"), list) else []
    return [
        (s["layers"], i)
        for s in stages
        if isinstance(s, dict) and isinstance(s.get("layers"), list)
        for i in range(len(s["layers"]))
    ]


def _named(data: dict[str, Any]) -> list[Any]:
    return [x[i]["name"] for x, i in _layers(data) if isinstance(x[i], dict) and "name" in x[i]]


def mutate_value(rng: random.Random, data: dict[str, Any]) -> str:
    """A type swap or a hostile number at a random place."""
    path = rng.choice(_paths(data))
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    old = parent[path[-1]]
    new = rng.choice(HOSTILE) if isinstance(old, int | float) or rng.random() < 0.5 else None
    new = new if new is not None else rng.choice(SWAPS)
    parent[path[-1]] = copy.deepcopy(new)
    return f"set {'.'.join(map(str, path))} = {new!r}"[:120]


def mutate_section(rng: random.Random, data: dict[str, Any]) -> str:
    """Add, replace or delete a top-level section (decoder, head, task, classes, scale...)."""
    key, value = rng.choice(SECTIONS)
    if rng.random() < 0.15 and key in data:
        del data[key]
        return f"delete {key}"
    data[key] = copy.deepcopy(value)
    return f"{key} = {value!r}"[:120]


def _move(kind: str, src: list[Any], i: int, dst: list[Any], j: int) -> None:
    item = src.pop(i) if kind != "dup" else copy.deepcopy(src[i])
    if kind != "delete":
        dst.insert(j, item)


def mutate_layers(rng: random.Random, data: dict[str, Any]) -> str:
    """Move, duplicate, delete or insert a layer, or swap its op."""
    layers = _layers(data)
    if not layers:
        return "no layers"
    src, i = rng.choice(layers)
    dst, j = rng.choice(layers) if rng.random() < 0.5 else (src, i + 1)  # far or adjacent
    kind = rng.choice(["move", "dup", "delete", "insert", "swap_op", "insert"])
    if kind in ("move", "dup", "delete"):
        _move(kind, src, i, dst, j)
    elif kind == "insert":
        dst.insert(j, copy.deepcopy(rng.choice(EXTRA_LAYERS)))
        return f"insert {dst[j]!r} at {j}"
    elif isinstance(src[i], dict):
        src[i]["op"] = rng.choice(OPS)
        return f"op of layer {i} -> {src[i]['op']}"
    return f"{kind} layer {i} -> {j}"


def mutate_stages(rng: random.Random, data: dict[str, Any]) -> str:
    """Move, duplicate or delete a stage, or give it a hostile ``repeat``."""
    stages = data.get("encoder")
    if not isinstance(stages, list) or not stages:
        return "no stages"
    i, j = rng.randrange(len(stages)), rng.randrange(len(stages))
    kind = rng.choice(["move", "dup", "delete", "repeat"])
    if kind != "repeat":
        _move(kind, stages, i, stages, j)
    elif isinstance(stages[i], dict):
        stages[i]["repeat"] = rng.choice([0, 2, 3, 1000, 1001, INT32])
        return f"stage {i} repeat = {stages[i]['repeat']}"
    return f"{kind} stage {i} -> {j}"


def mutate_names(rng: random.Random, data: dict[str, Any]) -> str:
    """Name collisions: a layer or stage named like another, a reserved word or a local."""
    layers, named = _layers(data), _named(data)
    encoder = data.get("encoder") if isinstance(data.get("encoder"), list) else []
    stages = [s.get("stage") for s in encoder if isinstance(s, dict)]
    name = rng.choice(NAMES + named + [s for s in stages if isinstance(s, str)] or NAMES)
    if layers and rng.random() < 0.8:
        lst, k = rng.choice(layers)
        if isinstance(lst[k], dict):
            lst[k]["name"] = name
            return f"layer {k} name = {name!r}"[:120]
    if stages:
        stage = rng.choice([s for s in encoder if isinstance(s, dict)] or [{}])
        stage["stage"] = name
    return f"stage name = {name!r}"[:120]


def mutate_options(rng: random.Random, data: dict[str, Any]) -> str:
    """An op option (groups, dilation, ceil_mode, output_padding, from...) set to a value of
    the right type, so the case reaches shape inference, the passes and PyTorch."""
    layers = [(lst, k) for lst, k in _layers(data) if isinstance(lst[k], dict)]
    if not layers:
        return "no layers"
    lst, k = rng.choice(layers)
    key = rng.choice([*OPTIONS.get(lst[k].get("op"), []), "from"])
    values = VALUES.get(key, [True, False]) + (_named(data) if key == "from" else [])
    lst[k][key] = copy.deepcopy(rng.choice(values))
    return f"layer {k} ({lst[k].get('op')}) {key} = {lst[k][key]!r}"[:120]


DATA_MUTATORS: list[Callable[[random.Random, dict[str, Any]], str]] = [
    mutate_value, mutate_value, mutate_section, mutate_section, mutate_layers, mutate_layers,
    mutate_layers, mutate_stages, mutate_names, mutate_options, mutate_options,
]  # fmt: skip
DEEP_MUTATORS = [mutate_section, mutate_layers, mutate_layers, mutate_stages, mutate_options]


def truncate(rng: random.Random, text: str) -> tuple[str, str]:
    return text[: (cut := rng.randrange(len(text) + 1))], f"truncate at {cut}"


def duplicate_key(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.splitlines(True)
    keyed = [i for i, ln in enumerate(lines) if KEY_LINE.match(ln) and ln.lstrip()[:1] != "-"]
    if not keyed:
        return text, "no keys"
    i = rng.choice(keyed)
    dup = lines[i] if rng.random() < 0.5 else NUMBER.sub(str(rng.choice([0, 7, INT32])), lines[i])
    lines.insert(i + rng.choice([0, 1]), dup)
    return "".join(lines), f"duplicate key line {i + 1}"


def alias(rng: random.Random, text: str) -> tuple[str, str]:
    """Anchor one flow layer and alias it elsewhere (or merge it with ``<<``)."""
    lines = text.splitlines(True)
    items = [i for i, ln in enumerate(lines) if FLOW_ITEM.match(ln)]
    if len(items) < 2:
        return text, "no flow layers"
    a, b = sorted(rng.sample(items, 2))
    indent, body = FLOW_ITEM.match(lines[a]).groups()  # type: ignore[union-attr]
    lines[a] = f"{indent}- &L {body}\n"
    ind_b = FLOW_ITEM.match(lines[b]).group(1)  # type: ignore[union-attr]
    merge = rng.random() < 0.4
    lines[b] = f"{ind_b}- {{<<: *L, name: merged}}\n" if merge else f"{ind_b}- *L\n"
    if rng.random() < 0.2:
        a, b = b, a  # alias before its anchor: undefined
        lines[a], lines[b] = lines[b], lines[a]
    return "".join(lines), f"alias line {a + 1} at line {b + 1}{' (merge)' if merge else ''}"


def alias_bomb(rng: random.Random, text: str) -> tuple[str, str]:
    """A billion-laughs block, referenced from a real key or left in an unknown one."""
    levels = rng.randint(3, 9)
    lines = ["b0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"b{k}: &b{k} [{', '.join([f'*b{k - 1}'] * 10)}]" for k in range(1, levels)]
    target = rng.choice(["classes", "bomb", "name", "scale"])
    lines.append(f"{target}: *b{levels - 1}")
    return "\n".join(lines) + "\n" + text, f"alias bomb {levels} levels at {target}"


def swap_number(rng: random.Random, text: str) -> tuple[str, str]:
    found = list(NUMBER.finditer(text))
    if not found:
        return text, "no numbers"
    m = rng.choice(found)
    new = rng.choice(["1e308", "-1", "0", ".nan", ".inf", "-.inf", "2147483647", "1.0e+10",
                      "99999999999999999999999999", "0x7fffffff", "1_0", "'3'", "[]"])  # fmt: skip
    return f"{text[: m.start()]}{new}{text[m.end() :]}", f"number at {m.start()} -> {new}"


def noise(rng: random.Random, text: str) -> tuple[str, str]:
    pos = rng.randrange(len(text) + 1)
    char = rng.choice([*"\t:[]{}!&*-#\"'|>,?%@` \n", "\x00", "\u2028", "\ufeff", "é"])
    return f"{text[:pos]}{char}{text[pos + rng.randint(0, 2) :]}", f"noise {char!r} at {pos}"


TEXT_MUTATORS = [truncate, duplicate_key, alias, alias_bomb, swap_number, noise] * 2


def make_case(index: int, seed: int, bases: dict[str, str]) -> Case:
    """Case ``index`` of campaign ``seed``. Two in five are *deep*: only structural and
    option mutations, so most reach the passes and emission; the rest take 1-3 data
    mutations of any kind and (sometimes) a text one."""
    rng = random.Random(f"{seed}:{index}")
    base = rng.choice(sorted(bases))
    text, done, deep = bases[base], [], rng.random() < 0.4
    if deep or rng.random() < 0.8:
        data = yaml.safe_load(text)
        for _ in range(rng.choice([1, 2, 3, 4] if deep else [1, 1, 2, 3])):
            done.append(rng.choice(DEEP_MUTATORS if deep else DATA_MUTATORS)(rng, data))
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    if not deep and (not done or rng.random() < 0.35):
        text, what = rng.choice(TEXT_MUTATORS)(rng, text)
        done.append(what)
    return Case(index, base, ("deep",) * deep + tuple(done), text)
