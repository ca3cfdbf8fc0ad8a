"""graphspec's tests, laid out as the packages they test: ``spec/`` (the spec language),
``compiler/``, ``harness/<room>/`` (one folder per room of ``benchmarks/``), ``cli/``,
``docs/`` (the README and generated docs) and ``gpu/``. Fixtures shared by several modules
are in ``conftest.py``, spec files shared by several modules under ``fixtures/``.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The repository root."""
SPECS = REPO / "specs"
"""The reference specs."""
FIXTURES = REPO / "tests" / "fixtures"
"""Spec files and folders shared by several test modules."""


def tiny_seg(name: str = "tiny", classes: int = 4) -> str:
    """The text of ``fixtures/tiny_seg.yaml`` (a conv-pool-unpool segmentation net that
    benches in seconds) under another ``name`` and class count."""
    text = (FIXTURES / "tiny_seg.yaml").read_text()
    return text.replace("name: tiny\n", f"name: {name}\n").replace(
        "classes: 4\n", f"classes: {classes}\n"
    )
