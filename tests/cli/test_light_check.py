"""``graphspec check`` never imports torch: it runs the spec language and the compiler's
passes only, so checking a folder of specs in CI costs a fraction of a second instead of
the 1-3 s torch (and torch._dynamo) take to import. A spec with ``encoder_init`` is the
exception (its checkpoint is opened), and none of the reference specs has one."""

from __future__ import annotations

import subprocess
import sys

from tests import REPO

PROBE = """
import contextlib, io, sys
from graphspec.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = main(["check", "specs", "--format", "json"])
print(code, sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""


def test_check_of_every_reference_spec_imports_no_torch() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "0"  # every spec valid
    assert done.stdout.strip() == "0 []"
