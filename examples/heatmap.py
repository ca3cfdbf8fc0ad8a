"""Slide a trained classifier over a larger image and save its class heat-maps as a PNG.

FC -> conv (``compiler.transfer.classifier_as_fcn``, what ``graphspec compile --fcn``
emits) turns the classifier's linear layers into convolutions, so on an image larger than
the one it was trained on it yields a ``[classes, h, w]`` map of scores: the classifier
applied at every position (Long et al., FCN, section 3.1). The image is a shapes test
image drawn at ``--size``, normalised as ``graphspec bench --normalize`` did in training.

    python examples/heatmap.py specs/classifier-small.yaml WEIGHTS.pt --size 128x128 \\
        --out heatmap.png
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure

from benchmarks.data import ShapesDataset
from benchmarks.data.normalize import Normalization, parse_normalization
from compiler import compile_graph
from compiler.transfer import classifier_as_fcn
from graphspec import load_spec


def heatmap(
    spec_path: Path,
    weights: Path,
    size: tuple[int, int],
    normalization: Normalization,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The image ``[3, H, W]`` in [0, 1], its class probabilities ``[classes, h, w]`` and
    the class names.

    ``spec.classes`` shape kinds make a shapes dataset of ``classes + 1`` (background
    first), exactly as the classifier was trained."""
    spec = load_spec(spec_path)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = classifier_as_fcn(compile_graph(spec), state)
    data = ShapesDataset("test", size, num_classes=spec.classes + 1, length=1, seed=seed)
    image = data[0]["image"]
    with torch.no_grad():
        scores = model(normalization.apply(image[None])).softmax(dim=1)[0]
    return image, scores, data.class_names[1:]


def save_png(image: torch.Tensor, scores: torch.Tensor, names: list[str], out: Path) -> None:
    """The image beside one probability map per class, each on the same 0..1 scale."""
    fig = Figure(figsize=(2.6 * (len(names) + 1), 2.8))  # no pyplot: no GUI backend
    axes = fig.subplots(1, len(names) + 1)
    axes[0].imshow(image.permute(1, 2, 0).numpy())
    axes[0].set_title(f"input {image.shape[1]}x{image.shape[2]}")
    for ax, name, score in zip(axes[1:], names, scores, strict=True):
        ax.imshow(score.numpy(), vmin=0.0, vmax=1.0, cmap="magma")
        ax.set_title(f"{name} {score.shape[0]}x{score.shape[1]}")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=80, bbox_inches="tight")


def _size(text: str) -> tuple[int, int]:
    height, _, width = text.partition("x")
    return int(height), int(width or height)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="the classifier's spec")
    parser.add_argument("weights", type=Path, help="its trained state_dict (a job's best.pt)")
    parser.add_argument("--size", type=_size, default=(128, 128), metavar="HxW")
    parser.add_argument("--seed", type=int, default=0, help="which shapes image to draw")
    parser.add_argument(
        "--normalize", default="dataset", metavar="MODE", help="as in training (default dataset)"
    )
    parser.add_argument("--out", type=Path, default=Path("heatmap.png"))
    args = parser.parse_args(argv)
    normalization = parse_normalization(args.normalize, "shapes")
    image, scores, names = heatmap(args.spec, args.weights, args.size, normalization, args.seed)
    save_png(image, scores, names, args.out)
    print(f"wrote {args.out}: {len(names)} heat-maps of {scores.shape[1]}x{scores.shape[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
