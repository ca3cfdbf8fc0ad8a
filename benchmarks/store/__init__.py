"""What a run leaves on disk, and the one place that names it (``layout``): the results
store and its table (``results``, ``results_io``), reading and merging runs (``read``),
jobs and their keys (``jobs``), a job's folder (``job_files``), ``protocol.json``
(``protocol``) and ``sweep.json`` (``plan_file``).
"""
