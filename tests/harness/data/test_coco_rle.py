"""COCO RLE segmentations: decoding by pycocotools and the loader's checks of broken RLE."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from benchmarks.data import CocoDetection, DataError
from benchmarks.data.coco import decode_rle
from benchmarks.data.coco_json import CocoRle, compressed_runs
from tests.harness.data.folders import ANNOTATIONS, write_images, write_json

# A 3 x 4 mask written by hand; read down each column: col 0 all 0, col 1 = 0,1,1,
# col 2 all 0, col 3 = 1,0,0, so the runs (zeros first) are 4, 2, 3, 1, 2.
HAND_MASK = np.array([[0, 0, 0, 1], [0, 1, 0, 0], [0, 1, 0, 0]], dtype=np.uint8)
HAND_RUNS = (4, 2, 3, 1, 2)


def test_compressed_string_decodes_to_the_mask() -> None:
    counts = mask_utils.encode(np.asfortranarray(HAND_MASK))["counts"].decode("ascii")
    assert decode_rle(CocoRle(3, 4, counts)).tolist() == HAND_MASK.tolist()


def test_uncompressed_counts_decode_to_the_mask() -> None:
    assert decode_rle(CocoRle(3, 4, HAND_RUNS)).tolist() == HAND_MASK.tolist()


def test_mask_starting_with_ones_has_a_zero_first_run() -> None:
    # 2 x 2 all ones except the bottom-right pixel: runs 0 zeros, 3 ones, 1 zero.
    expected = [[1, 1], [1, 0]]
    assert decode_rle(CocoRle(2, 2, (0, 3, 1))).tolist() == expected


def test_compressed_runs_read_pycocotools_strings() -> None:
    counts = mask_utils.encode(np.asfortranarray(HAND_MASK))["counts"].decode("ascii")
    assert compressed_runs(counts) == list(HAND_RUNS)
    # Runs long enough for several 5-bit groups and negative deltas (run 3 = 1 is 200 less
    # than run 1): a 40 x 10 mask with 200 zeros, 150 ones, 1 zero, 49 ones.
    runs = [200, 150, 1, 49]
    flat = np.repeat([0, 1, 0, 1], runs).astype(np.uint8)
    big = np.asfortranarray(flat.reshape(10, 40, order="F"))
    assert compressed_runs(mask_utils.encode(big)["counts"].decode("ascii")) == runs
    assert compressed_runs("4\x7f") is None  # a character outside '0'..'o'
    assert compressed_runs("4l") is None  # 'l' = 0x3C has the "more follows" bit, then ends


# ---- broken RLE in a JSON ----------------------------------------------------------


def _load_error(tmp_path: Path, segmentation: dict[str, Any]) -> str:
    """Load the fixture with annotation 101 (image 7, 4 high x 8 wide) given this RLE."""
    write_images(tmp_path)
    data = copy.deepcopy(ANNOTATIONS)
    data["annotations"][1]["segmentation"] = segmentation
    path = write_json(tmp_path / "instances.json", data)
    with pytest.raises(DataError) as err:
        CocoDetection(path, "train", (4, 8))
    prefix = f"{path}: annotations[1] (id 101): "
    assert str(err.value).startswith(prefix)
    return str(err.value)[len(prefix) :]


def test_rle_size_must_match_the_image(tmp_path: Path) -> None:
    message = _load_error(tmp_path, {"size": [8, 4], "counts": [32]})
    assert message == "RLE size [8, 4] is not its image's [height, width] [4, 8]"
    message = _load_error(tmp_path, {"size": [4], "counts": [32]})
    assert message.startswith("RLE segmentation 'size' must be [height, width]")


def test_rle_runs_must_cover_the_image(tmp_path: Path) -> None:
    assert _load_error(tmp_path, {"size": [4, 8], "counts": [30, 1]}) == (
        "RLE runs cover 31 pixels, not 4x8"
    )
    # "P1" is pycocotools' string for a single run of 32 ("P" = 0x20: low bits 0, more
    # follows; "1" = 1 << 5); a second "1" adds a run of 1.
    assert compressed_runs("P1") == [32]
    assert _load_error(tmp_path, {"size": [4, 8], "counts": "P11"}) == (
        "RLE runs cover 33 pixels, not 4x8"
    )


def test_rle_counts_must_be_runs_or_a_string(tmp_path: Path) -> None:
    message = _load_error(tmp_path, {"size": [4, 8], "counts": [33, -1]})
    assert message == "RLE 'counts' must be a string or a list of non-negative ints"
    message = _load_error(tmp_path, {"size": [4, 8], "counts": "4l"})
    assert message == "RLE 'counts' is not a valid compressed RLE string"
