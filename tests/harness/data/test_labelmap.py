"""A VOC-layout folder's own names (``labelmap.txt``), a COCO folder's, and a job's names.

Expected names are the literals written into the files here, so nothing is read back
through the code under test to build them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.data import DataError, VOCSegmentation, make_dataset
from benchmarks.data.labelmap import parse_labelmap
from benchmarks.data.names import job_class_names, source_class_names
from benchmarks.tasks import task_for
from compiler import compile_graph
from graphspec import load_spec
from tests import SPECS, tiny_seg
from tests.harness.data.folders import make_voc, write_images, write_json

# What CVAT's "Segmentation mask" / Datumaro's VOC export writes, with a comment and a
# blank line; 21 names as the folder's masks hold ids 0..20.
OWN = ["background", "road", "kerb", "lane marking", *(f"thing{i}" for i in range(4, 21))]
LABELMAP = "# label:color_rgb:parts:actions\n\n" + "".join(
    f"{name}:{i},{2 * i},{3 * i}::\n" for i, name in enumerate(OWN)
)
NAMES_ABC = "class_names: [a, b, c]\n"


def test_a_labelmap_names_a_voc_folders_classes(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "own")
    (root / "labelmap.txt").write_text(LABELMAP)
    assert VOCSegmentation(root, "train", (4, 6)).class_names == OWN
    assert VOCSegmentation(root, "test", (4, 6), num_classes=4).class_names == OWN[:4]
    # More classes than the label map names: the rest are numbered, as for COCO.
    (root / "labelmap.txt").write_text("background:0,0,0::\nroad:::\n")
    assert VOCSegmentation(root, "train", (4, 6), num_classes=4).class_names == [
        "background", "road", "class_2", "class_3",
    ]  # fmt: skip
    assert source_class_names(f"voc:{root}") == ["background", "road"]


def test_without_a_labelmap_a_voc_folder_has_vocs_names(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2012")
    names = make_dataset(f"voc:{root}", "train", (4, 6)).class_names  # type: ignore[attr-defined]
    assert names[:3] == ["background", "aeroplane", "bicycle"] and names[20] == "tvmonitor"
    assert source_class_names(f"voc:{root}") is None
    assert source_class_names(f"voc:{tmp_path / 'gone'}") is None
    assert source_class_names("shapes") is None


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("road:1,2,3:", "3 ':'-separated fields (expected 4)"),
        ("road", "1 ':'-separated fields (expected 4)"),
        (":1,2,3::", "no name"),
        ("road:1,2::", "colour '1,2' is not r,g,b from 0 to 255"),
        ("road:1,2,300::", "colour '1,2,300' is not r,g,b from 0 to 255"),
        ("background:9,9,9::", "name 'background' is given twice (first on line 2)"),
    ],
)
def test_a_malformed_labelmap_line_is_one_data_error_naming_it(
    tmp_path: Path, line: str, why: str
) -> None:
    root = make_voc(tmp_path / "own")
    path = root / "labelmap.txt"
    path.write_text(f"# label:color_rgb:parts:actions\nbackground:0,0,0::\n{line}\n")
    with pytest.raises(DataError) as info:
        VOCSegmentation(root, "train", (4, 6))
    message = str(info.value)
    assert message == (
        f"{path}:3: bad label line {line!r}: {why} (expected name:r,g,b:parts:actions)"
    )
    assert "\n" not in message


def test_a_labelmap_without_labels_or_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labelmap.txt"
    with pytest.raises(DataError, match=r"labelmap.txt: lists no labels"):
        parse_labelmap("# label:color_rgb:parts:actions\n\n", path)
    root = make_voc(tmp_path / "own")
    (root / "labelmap.txt").write_bytes(b"background:0,0,0::\n\xff\xfe:::\n")
    with pytest.raises(DataError, match=r"labelmap.txt: not UTF-8 text \(byte offset 19\)"):
        source_class_names(f"voc:{root}")


def test_a_coco_folders_names_come_from_its_train_categories(tmp_path: Path) -> None:
    write_json(tmp_path / "coco" / "annotations" / "instances_train.json")
    write_images(tmp_path / "coco" / "train")
    # folders.ANNOTATIONS: category ids 5 "cat" and 2 "dog" sort to dog (1), cat (2).
    assert source_class_names(f"coco:{tmp_path / 'coco'}") == ["background", "dog", "cat"]
    assert source_class_names(f"coco:{tmp_path / 'gone'}") is None


def test_a_job_names_its_classes_spec_first_then_its_data(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "own")
    (root / "labelmap.txt").write_text(LABELMAP)
    data = make_dataset(f"voc:{root}", "train", (4, 6), num_classes=4)
    plain = tmp_path / "plain.yaml"
    plain.write_text(tiny_seg("plain"))
    named = tmp_path / "named.yaml"
    named.write_text(tiny_seg("named") + "class_names: [sky, tree, car, bus]\n")
    for path, expected in ((plain, OWN[:4]), (named, ["sky", "tree", "car", "bus"])):
        spec = load_spec(path)
        task = task_for(spec, compile_graph(spec, check_budget=False))
        assert job_class_names(spec, task, f"voc:{root}", data) == expected
    # A detector's spec does not count background: it is put first.
    (tmp_path / "ssd.yaml").write_text((SPECS / "ssd-small.yaml").read_text() + NAMES_ABC)
    ssd = load_spec(tmp_path / "ssd.yaml")
    task = task_for(ssd, compile_graph(ssd, check_budget=False))
    assert job_class_names(ssd, task, "shapes", None) == ["background", "a", "b", "c"]
