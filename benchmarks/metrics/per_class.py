"""One class's score: what per-class tables, ``per_class.json`` and ``graphspec val`` show."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClassScore"]


@dataclass(frozen=True)
class ClassScore:
    """One class's number: IoU (segmentation) or COCO AP (detection); NaN when undefined
    (a class in neither targets nor predictions, or without ground truth)."""

    index: int
    name: str
    value: float
