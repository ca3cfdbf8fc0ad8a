"""Per-layer summary of a graph IR: what ``graphspec summary`` prints."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import networkx as nx

from graphspec.graph import totals


def _pair(value: Any) -> str:
    if value is None:
        return "-"
    a, b = (float(v) if isinstance(v, Fraction) and v.denominator != 1 else int(v) for v in value)
    return f"{a:g}" if a == b else f"{a:g}x{b:g}"


def summary_rows(graph: nx.DiGraph) -> list[dict[str, Any]]:
    """One row per node in execution order."""
    rows = []
    for node in nx.topological_sort(graph):
        data = graph.nodes[node]
        op = data["op"]
        row = {
            "name": node,
            "op": op.kind + (" (tied)" if data.get("tied_to") else ""),
            "role": data["role"],
            "stage": data.get("stage"),
            "shape": list(data["shape"]),
            "params": data["params"] - data.get("shared_params", 0),
            "flops": data["flops"],
            "receptive_field": _pair(data.get("rf")),
            "stride": _pair(data.get("jump")),
            "line": data["loc"].line,
        }
        if data.get("tied_to"):
            row["tied_to"] = data["tied_to"]
        rows.append(row)
    return rows


def summary_dict(graph: nx.DiGraph) -> dict[str, Any]:
    total = totals(graph)
    return {
        "name": graph.graph.get("name"),
        "layers": summary_rows(graph),
        "total_params": total["params"],
        "total_flops": total["flops"],
        "gflops": total["flops"] / 1e9,
        **{k: v for k, v in graph.graph.items() if k in ("default_boxes",)},
    }


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def format_summary(graph: nx.DiGraph) -> str:
    """A fixed-width table with totals, readable in a terminal."""
    info = summary_dict(graph)
    header = ("name", "op", "output", "params", "FLOPs", "RF", "stride")
    table = [header]
    for row in info["layers"]:
        table.append(
            (
                row["name"],
                row["op"],
                "x".join(map(str, row["shape"])),
                f"{row['params']:,}",
                _human(row["flops"]),
                row["receptive_field"],
                row["stride"],
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for i, r in enumerate(table):
        cells = [
            c.ljust(w) if j < 3 else c.rjust(w)
            for j, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(
        f"{info['name']}: {info['total_params']:,} parameters, "
        f"{info['gflops']:.3f} GFLOPs (2 x MACs) per image"
    )
    if "default_boxes" in info:
        lines.append(f"default boxes: {info['default_boxes']}")
    return "\n".join(lines)
