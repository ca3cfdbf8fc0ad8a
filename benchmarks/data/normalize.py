"""Per-channel input normalisation, ``(x - mean) / std``, the same for every spec and split.

Centred, unit-scale inputs let the shared recipe (one lr, one init) suit every spec: a spec
without batch norm right after its first conv would otherwise see inputs in [0, 1] with a
large mean, which shifts its effective first-layer bias and so its best lr. The statistics
belong to the data, not the spec, so they are chosen once per sweep (``--normalize``) and
recorded in ``config.json`` through :meth:`Normalization.as_json`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from benchmarks.data.common import Sample
from benchmarks.data.view import DatasetView

__all__ = [
    "IMAGENET",
    "NO_NORMALIZATION",
    "NORMALIZE_FORMS",
    "SHAPES",
    "Normalization",
    "NormalizedDataset",
    "dataset_normalization",
    "parse_normalization",
]

Triple = tuple[float, float, float]
NORMALIZE_FORMS = ("dataset", "imagenet", "none", "m1,m2,m3/s1,s2,s3")


@dataclass(frozen=True)
class Normalization:
    """Per-channel (R, G, B) ``mean`` and ``std`` of the inputs, and where they came from."""

    name: str  # "imagenet", "shapes", "none" or "custom"
    mean: Triple
    std: Triple

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"normalisation needs 3 means and 3 stds, got {self.describe()}")
        if not all(math.isfinite(v) for v in (*self.mean, *self.std)):
            raise ValueError(f"normalisation values must be finite, got {self.describe()}")
        if min(self.std) <= 0:
            raise ValueError(f"normalisation stds must be > 0, got {self.describe()}")

    def describe(self) -> str:
        """The ``m1,m2,m3/s1,s2,s3`` form :func:`parse_normalization` reads back."""
        mean, std = (",".join(f"{v:g}" for v in values) for values in (self.mean, self.std))
        return f"{mean}/{std}"

    def apply(self, image: torch.Tensor) -> torch.Tensor:
        """A normalised copy of a ``[3, H, W]`` (or ``[N, 3, H, W]``) float image."""
        if image.dim() < 3 or image.shape[-3] != 3:
            raise ValueError(f"expected an RGB image [..., 3, H, W], got shape {list(image.shape)}")
        mean = torch.tensor(self.mean, dtype=image.dtype, device=image.device)[:, None, None]
        std = torch.tensor(self.std, dtype=image.dtype, device=image.device)[:, None, None]
        return (image - mean) / std

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "mean": list(self.mean), "std": list(self.std)}


IMAGENET = Normalization("imagenet", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
NO_NORMALIZATION = Normalization("none", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
# Measured once on the shapes train split, seed 0, its first 256 images at 64x64 (the size
# of the small reference specs): per-channel mean and population std over all their
# pixels, rounded to 3 decimals (tests/harness/data/test_augment.py repeats the measurement). Other
# sizes and seeds move them by about 0.01, far below what matters for normalising.
SHAPES = Normalization("shapes", (0.515, 0.490, 0.497), (0.226, 0.225, 0.231))


def dataset_normalization(source: str) -> Normalization:
    """The default for a data source: measured for the synthetic shapes, ImageNet's for the
    photographs of VOC and COCO (the usual choice, and the one pretrained encoders expect)."""
    return SHAPES if source.partition(":")[0] == "shapes" else IMAGENET


def _triple(text: str, what: str, option: str) -> Triple:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ValueError(
            f"bad --normalize {option!r}: the {what} must be 3 comma-separated numbers "
            f"(expected one of: {', '.join(NORMALIZE_FORMS)})"
        )
    return values  # type: ignore[return-value]


def parse_normalization(option: str, source: str) -> Normalization:
    """The sweep's ``--normalize`` value (see :data:`NORMALIZE_FORMS`) for data ``source``.

    Raises:
        ValueError: one line naming the bad value and the accepted forms.
    """
    word = option.strip().lower()
    if word == "dataset":
        return dataset_normalization(source)
    if word == "imagenet":
        return IMAGENET
    if word == "none":
        return NO_NORMALIZATION
    mean_text, slash, std_text = option.partition("/")
    if not slash:
        raise ValueError(
            f"bad --normalize {option!r} (expected one of: {', '.join(NORMALIZE_FORMS)})"
        )
    mean, std = _triple(mean_text, "means", option), _triple(std_text, "stds", option)
    try:
        return Normalization("custom", mean, std)
    except ValueError as exc:
        raise ValueError(f"bad --normalize {option!r}: {exc}") from None


class NormalizedDataset(DatasetView):
    """``dataset`` with every image normalised; masks, boxes and labels are untouched."""

    def __init__(self, dataset: Dataset[Sample], normalization: Normalization) -> None:
        super().__init__(dataset)
        self.normalization = normalization

    def __getitem__(self, index: int) -> Sample:
        item = self.dataset[index]
        return {**item, "image": self.normalization.apply(item["image"])}
