"""Totals of a graph and the spec's ``budget`` limits on them."""

from __future__ import annotations

from dataclasses import dataclass

from graphspec.errors import SpecError, SpecIssue
from graphspec.ir import Graph
from graphspec.schema import Spec


@dataclass(frozen=True)
class Totals:
    """Whole-network cost per image: parameters (a tied weight counted once) and FLOPs
    (2 x MACs). A two-stage detector's FLOPs are stated at ``rois`` RoIs per image: the
    image part once plus ``rois`` x ``roi_flops`` (the nodes that run per RoI), plus, with a
    mask branch, ``mask_rois`` x ``mask_flops`` (the branch runs on the detections)."""

    params: int
    flops: int
    rois: int = 0
    roi_flops: int = 0
    mask_rois: int = 0
    mask_flops: int = 0

    @property
    def gflops(self) -> float:
        """FLOPs / 1e9 as a float; ``inf`` rather than an OverflowError for a count no float
        holds (a graph within :class:`~graphspec.limits.Limits` never gets near)."""
        return self.flops / 1e9 if self.flops < 10**300 else float("inf")


def stated_rois(graph: Graph) -> int:
    """RoIs per image the graph's cost is stated at (0 without a two-stage head)."""
    layout = graph.detection.two_stage if graph.detection is not None else None
    return layout.rois if layout is not None else 0


def totals(graph: Graph) -> Totals:
    """Total parameters and FLOPs of ``graph``, per-RoI nodes at the stated RoI count."""
    layout = graph.detection.two_stage if graph.detection is not None else None
    masks = layout.mask_branch if layout is not None else frozenset()
    image_flops = sum(node.flops for node in graph if not node.per_roi)
    roi_flops = sum(n.flops for n in graph if n.per_roi and n.name not in masks)
    mask_flops = sum(graph[name].flops for name in masks)
    rois, mask_rois = stated_rois(graph), layout.mask_rois if layout is not None else 0
    return Totals(
        params=sum(node.own_params for node in graph),
        flops=image_flops + rois * roi_flops + mask_rois * mask_flops,
        rois=rois,
        roi_flops=roi_flops,
        mask_rois=mask_rois,
        mask_flops=mask_flops,
    )


def enforce_budget(graph: Graph, spec: Spec) -> None:
    """Raise if the graph exceeds the spec's ``budget`` (one issue per limit exceeded)."""
    if spec.budget is None:
        return
    total = totals(graph)
    issues = []
    smap = spec.source
    if spec.budget.max_params is not None and total.params > spec.budget.max_params:
        issues.append(
            SpecIssue(
                smap.locate(("budget", "max_params")),
                f"budget exceeded: "
                f"{total.params:,} parameters (expected at most "
                f"{spec.budget.max_params:,.0f}, got {total.params:,})",
            )
        )
    if spec.budget.max_gflops is not None and total.gflops > spec.budget.max_gflops:
        issues.append(
            SpecIssue(
                smap.locate(("budget", "max_gflops")),
                f"budget exceeded: "
                f"{total.gflops:.6g} GFLOPs (expected at most {spec.budget.max_gflops}, "
                f"got {total.gflops:.6g})",
            )
        )
    if issues:
        raise SpecError(issues)
