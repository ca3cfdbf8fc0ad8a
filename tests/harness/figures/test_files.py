"""Chart file names: slugs are bounded, and a dotted stem keeps all of its name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib.pyplot as plt

from benchmarks.figures.files import SLUG_MAX_BYTES, save_figure, slug


def test_short_slugs_are_unchanged() -> None:
    assert slug("cuda:0") == "cuda_0"
    assert slug("segnet-small lr=0.01") == "segnet-small_lr_0.01"
    assert slug("::") == "x"


def test_a_long_label_is_cut_with_its_hash() -> None:
    label = "n" * 300  # a valid spec name
    digest = hashlib.sha256(label.encode()).hexdigest()[:8]
    assert slug(label) == "n" * (SLUG_MAX_BYTES - 9) + "-" + digest
    assert len(slug(label)) == SLUG_MAX_BYTES == 64
    assert slug("n" * 299 + "m") != slug(label)  # same first 64 characters
    assert slug(label, 20) == "n" * 11 + "-" + digest


def test_a_dotted_stem_is_not_cut_at_its_dot(tmp_path: Path) -> None:
    fig, _ = plt.subplots()
    png, svg = save_figure(fig, tmp_path / "seg_miou_vs_latency_v1.5")
    plt.close(fig)
    assert (png.name, svg.name) == ("seg_miou_vs_latency_v1.5.png", "seg_miou_vs_latency_v1.5.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == [png.name, svg.name]
