"""How many detections a drawn or handed-on prediction keeps (``predict`` and the job's
predictions strip), in a module that imports nothing heavy so the command line's
``--help`` shows the values the harness uses."""

from __future__ import annotations

__all__ = ["DEFAULT_CONF", "DEFAULT_MAX_DET"]

DEFAULT_CONF = 0.25
"""Ultralytics' default score threshold: decoding keeps boxes from 0.01 (for mAP), far too
many to draw or hand on."""
DEFAULT_MAX_DET = 100
"""COCO's ``maxDets``; decoding keeps at most 200 boxes an image anyway."""
