"""benchmarks: the harness that trains, evaluates and times specs in resumable sweeps.

``load_run`` is the Python entry point to a finished run (its rows, job folders and
trained models); the CLI's ``graphspec bench`` and ``graphspec report`` drive the rest.
The harness is laid out in rooms along a job's path (docs/architecture.md). The names here
load on first use (PEP 562), so importing a light module such as
:mod:`benchmarks.store.settings` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.inference.run import Run, RunError, RunJob, load_run

__all__ = ["Run", "RunError", "RunJob", "load_run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("benchmarks.inference.run"), name)
    raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
