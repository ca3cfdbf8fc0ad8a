"""Evaluation metrics for the benchmark tasks: segmentation (mIoU) and detection (mAP)."""

from benchmarks.metrics.detection import detection_map
from benchmarks.metrics.segmentation import ConfusionMatrix

__all__ = ["ConfusionMatrix", "detection_map"]
