"""Pictures drawn for a predictions strip: enlarged nearest-neighbour, no legend on them, one
legend band for all; outside the strip, pictures keep their size and their legend."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmarks.figures.overlay import draw_boxes, drawing, legend_band, segmentation_overlay

NAMES = ["background", "circle", "square"]
# VOC's palette worked by hand: class 1 is (128, 0, 0), class 2 is (0, 128, 0).
CLASS_COLOURS = {1: (128, 0, 0), 2: (0, 128, 0)}
IMAGE = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) * 4 + 10  # no black pixel
MASK = np.array([[0, 0, 1, 1, 0], [0, 2, 2, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 2]])


def _blend(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Half the class colour over the image where the mask is not background."""
    out = image.astype(np.float64).copy()
    for cls, colour in CLASS_COLOURS.items():
        out[mask == cls] = 0.5 * out[mask == cls] + 0.5 * np.array(colour)
    return out.round().astype(np.uint8)


def test_an_overlay_in_a_strip_is_enlarged_nearest_and_has_no_legend() -> None:
    with drawing(scale=3, legend=False):
        out = np.asarray(segmentation_overlay(Image.fromarray(IMAGE), MASK, NAMES))
    expected = _blend(IMAGE, MASK).repeat(3, axis=0).repeat(3, axis=1)
    assert out.shape == (12, 15, 3)
    assert np.array_equal(out, expected)


def test_an_overlay_outside_a_strip_keeps_its_size_and_legend() -> None:
    out = np.asarray(segmentation_overlay(Image.fromarray(IMAGE), MASK, NAMES))
    assert out.shape == IMAGE.shape
    assert tuple(out[0, 0]) == (0, 0, 0)  # the legend's dark band, top left


def test_boxes_in_a_strip_are_drawn_on_the_enlarged_picture() -> None:
    image = Image.new("RGB", (8, 8), (200, 200, 200))
    with drawing(scale=4, legend=False):
        out = draw_boxes(image, np.array([[2.0, 2.0, 6.0, 6.0]]), [1], [0.9], NAMES)
    assert out.size == (32, 32)
    pixels = np.asarray(out)
    # The box's corners, 4 times further out; its 2 px outline in class 1's colour.
    assert tuple(pixels[8, 8]) == tuple(pixels[23, 23]) == CLASS_COLOURS[1]
    assert tuple(pixels[16, 16]) == (200, 200, 200)  # inside the box: the picture


def test_the_legend_band_names_every_coloured_class_and_wraps() -> None:
    band = legend_band(NAMES, 300)
    assert band is not None and band.width == 300
    colours = {tuple(c) for c in np.asarray(band).reshape(-1, 3)}
    assert set(CLASS_COLOURS.values()) <= colours
    many = ["background", *(f"class number {i}" for i in range(1, 21))]
    wrapped = legend_band(many, 300)
    assert wrapped is not None and wrapped.width == 300 and wrapped.height > 3 * band.height
    assert legend_band(["background"], 300) is None  # nothing is drawn in colour


@pytest.mark.parametrize("scale", [0, -1, 1.5, True])
def test_drawing_wants_a_whole_scale(scale: object) -> None:
    with pytest.raises(ValueError, match="scale"), drawing(scale=scale):  # type: ignore[arg-type]
        pass
