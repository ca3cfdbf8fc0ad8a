"""Where code runs: devices and data-parallel ranks (``distributed``), model and batch
placement with bf16 autocast (``placement``). The bottom room: it imports nothing else of
the harness.
"""
