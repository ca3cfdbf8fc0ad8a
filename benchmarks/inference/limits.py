"""The bounds of ``graphspec predict``, in a module that imports nothing heavy,
so the command line's ``--help`` shows the values the harness uses (and ``graphspec
check``, which builds the same parser, still never imports torch)."""

from __future__ import annotations

__all__ = ["MAX_IMAGE_PIXELS"]

MAX_IMAGE_PIXELS = 50_000_000
"""The largest image ``predict`` decodes, checked from the file's header: 50 megapixels
(e.g. 8660 x 5773), a large camera photo. Predicting at the image's own size costs memory
per pixel (the image, its float copy, the class scores resized to it): a 7000 x 7000 image
with 4 classes peaked at 4 GiB (26 s on CPU), and the 12000 x 12000 one it now refuses took
8.9 GiB."""
