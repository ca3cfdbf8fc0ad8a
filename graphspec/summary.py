"""Per-layer summary of a graph IR: what ``graphspec summary`` prints."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from graphspec.budget import totals
from graphspec.ir import Graph


def _pair(value: Any) -> str:
    if value is None:
        return "-"
    a, b = (float(v) if isinstance(v, Fraction) and v.denominator != 1 else int(v) for v in value)
    return f"{a:g}" if a == b else f"{a:g}x{b:g}"


def summary_rows(graph: Graph) -> list[dict[str, Any]]:
    """One row per node in execution order (the JSON rows of ``summary --json``)."""
    rows = []
    for node in graph.topological():
        row = {
            "name": node.name,
            "op": node.op.op + (" (tied)" if node.tied_to else ""),
            "role": node.role,
            "stage": node.stage,
            "shape": list(node.shape),
            "params": node.own_params,
            "flops": node.flops,
            "receptive_field": _pair(node.rf),
            "stride": _pair(node.jump),
            "line": node.loc.line,
        }
        if node.tied_to:
            row["tied_to"] = node.tied_to
        if node.per_roi:
            row["per_roi"] = True
        rows.append(row)
    return rows


def summary_dict(graph: Graph) -> dict[str, Any]:
    total = totals(graph)
    info: dict[str, Any] = {
        "name": graph.name,
        "layers": summary_rows(graph),
        "total_params": total.params,
        "total_flops": total.flops,
        "gflops": total.gflops,
    }
    if graph.detection is not None and graph.detection.default_boxes:
        info["default_boxes"] = graph.detection.default_boxes
    layout = graph.detection.two_stage if graph.detection is not None else None
    if layout is not None:
        info["rois"] = total.rois
        info["flops_per_roi"] = total.roi_flops
        if layout.masks:
            info["mask_rois"] = total.mask_rois
            info["flops_per_mask"] = total.mask_flops
        if layout.anchors:
            info["anchors"] = layout.anchors
    return info


def cost_sentence(info: dict[str, Any]) -> str:
    """``1.234 GFLOPs (2 x MACs) per image``, with a two-stage detector's RoI count and
    split: the image part once plus the per-RoI part at the stated count."""
    text = f"{info['gflops']:.3f} GFLOPs (2 x MACs) per image"
    if "rois" not in info:
        return text
    per_roi, per_mask = info["flops_per_roi"], info.get("flops_per_mask", 0)
    masks = info.get("mask_rois", 0)
    image = info["gflops"] - (info["rois"] * per_roi + masks * per_mask) / 1e9
    split = (
        f"{image:.3f} GFLOPs for the image + {info['rois']} x {per_roi / 1e6:.3g} MFLOPs per RoI"
    )
    if masks:
        split += f" + {masks} x {per_mask / 1e6:.3g} MFLOPs per detection's mask"
    return f"{text} at {info['rois']} RoIs ({split})"


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def format_summary(graph: Graph) -> str:
    """A fixed-width table with totals, readable in a terminal."""
    info = summary_dict(graph)
    header = ("name", "op", "output", "params", "FLOPs", "RF", "stride")
    table = [header]
    for row in info["layers"]:
        table.append(
            (
                row["name"],
                row["op"] + (" /RoI" if row.get("per_roi") else ""),
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
    lines.append(f"{info['name']}: {info['total_params']:,} parameters, {cost_sentence(info)}")
    if "default_boxes" in info:
        lines.append(f"default boxes: {info['default_boxes']}")
    if "anchors" in info:
        lines.append(f"RPN anchors: {info['anchors']}")
    if "rois" in info:
        lines.append("/RoI: the layer runs once per RoI; its FLOPs are one RoI's")
    return "\n".join(lines)
