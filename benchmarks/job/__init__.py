"""One spec end to end: build (``build``), fit (``fit``), measure and the results row
(``run``), and the predictions strip a finished job leaves (``predictions``).
"""
