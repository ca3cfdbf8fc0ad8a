"""Fixtures shared by the test modules.

Shared files are under ``tests/fixtures/`` (their paths in :mod:`tests`); a module that needs
a variant of the tiny segmentation spec asks for ``tiny_seg_spec`` instead of inlining it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from tests import tiny_seg


def _single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread for tests that train: faster than two on a busy 2-core machine,
    and the previous count is restored afterwards."""
    yield from _single_thread()


@pytest.fixture(scope="module")
def one_thread_module() -> Iterator[None]:
    """:func:`one_thread` for a whole module, so its module-scoped fixtures (a compiled
    SSD300, a trained model) are built on one thread too."""
    yield from _single_thread()


@pytest.fixture
def tiny_seg_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write ``tests/fixtures/tiny_seg.yaml`` (a conv-pool-unpool net that benches in
    seconds) as ``FOLDER/NAME.yaml`` with another ``name`` and ``classes``; returns the
    path. ``folder`` defaults to the test's ``tmp_path``."""

    def write(name: str = "tiny", classes: int = 4, folder: Path | None = None) -> Path:
        path = (folder or tmp_path) / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tiny_seg(name, classes))
        return path

    return write
