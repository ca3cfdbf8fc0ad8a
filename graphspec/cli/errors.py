"""Exit codes of the ``graphspec`` command, and the one-line messages for known errors.

Bad input never shows a traceback: spec problems print as ``file:line:col: key: message``
(their own ``str``), other user-facing errors of the harness as ``error: message``, and the
exit code says which kind of failure it was.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID = 1
"""A spec, the data or a results file is bad (or a benchmark job failed)."""
EXIT_USAGE = 2
"""The command line itself is wrong: bad option, missing path."""
EXIT_INTERRUPTED = 130


def describe_error(exc: BaseException) -> str | None:
    """A one-line message for known user-facing errors (bad data, bad options), or None."""
    from benchmarks.data import DataError
    from benchmarks.results import ResultsFileError

    if isinstance(exc, DataError | ResultsFileError):
        return f"error: {exc}"
    if isinstance(exc, ValueError) and str(exc).startswith("bad shard"):
        return f"error: {exc}"
    if isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError):
        return f"error: {exc}"
    return None
