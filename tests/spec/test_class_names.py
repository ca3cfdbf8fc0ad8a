"""A spec may name its classes: ``class_names``, one per class, checked like every key."""

from __future__ import annotations

import pytest

from compiler import compile_graph
from graphspec import SpecError, load_spec
from tests import SPECS

SEGNET = (SPECS / "segnet-small.yaml").read_text()  # segmentation, classes: 4
CLASSIFIER = (SPECS / "classifier-small.yaml").read_text()  # classification, classes: 4


def _with_names(text: str, names: str) -> str:
    return text.replace("classes: 4\n", f"classes: 4\nclass_names: {names}\n", 1)


def _line_of(text: str, key: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(key))


def test_names_load_and_compile() -> None:
    spec = load_spec(_with_names(SEGNET, "[background, circle, square, triangle]"))
    assert spec.class_names == ["background", "circle", "square", "triangle"]
    compile_graph(spec)
    assert load_spec(SEGNET).class_names is None


def test_one_name_per_class_background_first_for_segmentation() -> None:
    text = _with_names(SEGNET, "[circle, square, triangle]")
    with pytest.raises(SpecError) as info:
        compile_graph(load_spec(text))
    assert info.value.line == _line_of(text, "class_names")
    assert info.value.message == (
        "class_names names 3 classes, but classes is 4 (expected one name per class, "
        "background first)"
    )
    with pytest.raises(SpecError, match=r"but classes is 4 \(expected one name per class\)$"):
        compile_graph(load_spec(_with_names(CLASSIFIER, "[a, b, c]")))


def test_a_name_given_twice_is_reported_at_its_item() -> None:
    text = _with_names(SEGNET, "[background, circle, circle, triangle]")
    with pytest.raises(SpecError) as info:
        compile_graph(load_spec(text))
    # The third item of the flow list: "class_names: [background, circle, " is 34 wide.
    assert (info.value.line, info.value.column) == (_line_of(text, "class_names"), 35)
    assert "class name 'circle' is given twice" in info.value.message
    assert "first at index 1" in info.value.message


@pytest.mark.parametrize(
    "bad", ['["", b, c, d]', '["a\\tb", b, c, d]', "[a, b, c, " + "x" * 65 + "]"]
)
def test_names_are_short_printable_text(bad: str) -> None:
    with pytest.raises(SpecError, match="class_names"):
        load_spec(_with_names(CLASSIFIER, bad))
