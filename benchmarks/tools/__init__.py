"""Developer measurements run with ``python -m benchmarks.tools.NAME``: compile speed,
mAP engines, the timing check and timing repeatability. Nothing imports them.
"""
