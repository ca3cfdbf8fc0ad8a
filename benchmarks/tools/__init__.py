"""Developer measurements run with ``python -m benchmarks.tools.NAME``: compile speed,
mAP engines, the timing check, timing repeatability and compiled networks against
hand-written PyTorch (``vs_handwritten``). Nothing imports them.
"""
