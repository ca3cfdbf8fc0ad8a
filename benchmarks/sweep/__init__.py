"""A whole run: plan the jobs and shards (``plan``), run them resumably (``runner``)
through Ctrl-C and SIGTERM (``interrupts``), alone or under DDP, then report
(``orchestrate``).
"""
