"""benchmarks: the harness that trains, evaluates and times specs in resumable sweeps.

``load_run`` is the Python entry point to a finished run (its rows, job folders and
trained models); the CLI's ``graphspec bench`` and ``graphspec report`` drive the rest.
"""

from benchmarks.inference.run import Run, RunError, RunJob, load_run

__all__ = ["Run", "RunError", "RunJob", "load_run"]
