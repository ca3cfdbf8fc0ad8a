"""Evaluation metrics for the benchmark tasks: segmentation (mIoU), detection and instance
segmentation (COCO mAP)."""

from benchmarks.metrics.detection import detection_map
from benchmarks.metrics.instance import instance_map
from benchmarks.metrics.segmentation import ConfusionMatrix

__all__ = ["ConfusionMatrix", "detection_map", "instance_map"]
