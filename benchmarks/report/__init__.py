"""The benchmark report: seeds folded (``aggregate``), the Pareto frontier (``pareto``),
the content (``sections``, ``tables``, ``winner``, ``header``, ``predictions``), its two
renderings (``markdown``, ``html``), the charts (``charts/``) and the files (``write``).
"""
