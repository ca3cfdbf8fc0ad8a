"""The bounds and defaults of ``graphspec predict``, in a module that imports nothing heavy,
so the command line's ``--help`` shows the values the harness uses (and ``graphspec
check``, which builds the same parser, still never imports torch)."""

from __future__ import annotations

__all__ = ["DEFAULT_CONF", "DEFAULT_MAX_DET", "MAX_IMAGE_PIXELS"]

MAX_IMAGE_PIXELS = 50_000_000
"""The largest image ``predict`` decodes, checked from the file's header: 50 megapixels
(e.g. 8660 x 5773), a large camera photo. Predicting at the image's own size costs memory
per pixel (the image, its float copy, the class scores resized to it): a 7000 x 7000 image
with 4 classes peaked at 4 GiB (26 s on CPU), and the 12000 x 12000 one it now refuses took
8.9 GiB."""
DEFAULT_CONF = 0.25
"""Ultralytics' default score threshold: decoding keeps boxes from 0.01 (for mAP), far too
many to draw or hand on."""
DEFAULT_MAX_DET = 100
"""COCO's ``maxDets``; decoding keeps at most 200 boxes an image anyway."""
