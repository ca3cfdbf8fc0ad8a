"""Which names a model's classes get: the spec's, the data's, a built-in source's, or a number."""

from __future__ import annotations

from benchmarks.data.names import class_names


def test_spec_names_win_and_background_is_put_first_when_not_counted() -> None:
    # A segmentation spec counts background: its four names are the four classes.
    assert class_names("voc:/d", 4, spec_names=["bg", "cat", "dog", "cow"]) == [
        "bg", "cat", "dog", "cow",
    ]  # fmt: skip
    # A detector's three object classes: background comes first in the data's numbering.
    assert class_names("coco:/d", 4, spec_names=["cat", "dog", "cow"]) == [
        "background", "cat", "dog", "cow",
    ]  # fmt: skip


def test_the_data_names_next_then_a_built_in_source_then_numbers() -> None:
    coco = ["background", "person", "bicycle", "car"]
    assert class_names("coco:/d", 3, data_names=coco) == ["background", "person", "bicycle"]
    assert class_names("shapes", 3) == ["background", "circle", "square"]
    assert class_names("voc:/d", 2) == ["background", "aeroplane"]
    assert class_names("coco:/d", 3) == ["class 0", "class 1", "class 2"]
    # Names that do not fit the count are not used.
    assert class_names("coco:/d", 3, spec_names=["a"], data_names=["x"]) == [
        "class 0", "class 1", "class 2",
    ]  # fmt: skip
