"""The report's charts: what goes on the axes (``axes``), the accuracy-vs-cost scatter
(``scatter``) and its labels (``labels``), one task's charts (``per_task``) and the
training curves (``curves``).
"""
