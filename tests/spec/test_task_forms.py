"""The tasks a spec may name come from their declared forms (graphspec/tasks.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from compiler import compile_graph
from graphspec import SpecError, load_spec
from graphspec.tasks import TaskForm, declare_task, forget_task, task_forms

SPEC = """\
name: t
task: {task}
input: {{channels: 3, height: 8, width: 8}}
classes: 3
encoder:
  - stage: s
    layers:
      - {{op: conv, out: 3, kernel: 3, padding: 1}}
"""


@pytest.fixture
def saliency() -> Iterator[TaskForm]:
    """A toy per-pixel task (no head, scored on classes x H x W), undeclared afterwards."""
    form = declare_task(TaskForm("saliency", heads=(None,), output="map"))
    yield form
    forget_task("saliency")


def test_the_built_in_forms() -> None:
    forms = task_forms()
    assert list(forms) == ["segmentation", "detection", "classification", "instance"]
    assert forms["instance"].heads == ("rcnn",) and forms["instance"].output == "head"
    assert forms["detection"].heads == ("ssd", "yolo", "rcnn")
    assert forms["detection"].output == "head"
    assert forms["segmentation"].decoder and not forms["classification"].decoder


def test_a_declared_task_is_accepted_and_checked_by_its_form(saliency: TaskForm) -> None:
    spec = load_spec(SPEC.format(task="saliency"))
    assert compile_graph(spec)[compile_graph(spec).output].shape == (3, 8, 8)
    narrow = SPEC.format(task="saliency").replace("out: 3", "out: 2")
    with pytest.raises(SpecError, match=r"saliency output is not classes x H x W .*expected 3x8x8"):
        compile_graph(load_spec(narrow))
    with pytest.raises(SpecError, match="head 'segmentation' cannot serve task 'saliency'"):
        compile_graph(load_spec(SPEC.format(task="saliency") + "head: {type: segmentation}\n"))


def test_an_undeclared_task_is_refused_at_its_key() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(SPEC.format(task="saliency"))
    assert (info.value.line, info.value.column) == (2, 7)
    expected = "expected 'segmentation', 'detection', 'classification' or 'instance'"
    assert f"{expected}, got 'saliency'" in str(info.value)
