"""docs/spec.md: generated from the schema's models, current, complete; and ``--version``.

The committed reference must equal what ``graphspec schema --markdown`` prints now, so a
new key or op cannot ship undocumented; the rows checked by hand are read off the
models' declarations in graphspec/schema.py and graphspec/ops/.
"""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

import pytest
from pydantic import Field

from graphspec import Spec
from graphspec.cli import main, package_version
from graphspec.ops import Strict, spec_ops
from graphspec.schema import Decoder
from graphspec.schema_doc import KeyDoc, key_docs, markdown_reference
from tests import REPO

ROOT = REPO
SPEC_MD = ROOT / "docs" / "spec.md"


def _printed(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's --version exits
        code = int(stop.code or 0)
    return code, capsys.readouterr().out


def test_docs_spec_md_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _printed(capsys, ["schema", "--markdown"])
    assert code == 0
    assert SPEC_MD.read_text() == text, (
        "docs/spec.md is stale; regenerate it with: graphspec schema --markdown > docs/spec.md"
    )


def test_every_op_and_top_level_key_is_documented() -> None:
    text = markdown_reference()
    for name in spec_ops():
        assert f"### `{name}`\n" in text, name
    keys = ["name", "task", "input", "classes", "scale", "encoder", "decoder", "head"]
    keys += ["encoder_init", "budget", "train"]
    assert {f.alias or n for n, f in Spec.model_fields.items()} >= set(keys)
    for key in [f.alias or n for n, f in Spec.model_fields.items()]:
        assert f"| `{key}` |" in text, key


def test_rows_read_off_the_models() -> None:
    rows = {r.key: r for r in key_docs(Decoder)}
    assert rows["upsample"] == KeyDoc(
        "upsample",
        "str",
        '`"unpool"`',
        "one of `unpool`, `transposed`, `tied`, `bilinear`",
        "",
    )
    assert rows["batchnorm"].description == (
        "a batch-norm + ReLU after each decoder conv, as in SegNet"
    )
    conv = {r.key: r for r in key_docs(spec_ops()["conv"], skip=("op", "name", "from"))}
    assert list(conv) == ["out", "kernel", "stride", "padding", "dilation", "groups", "bias"]
    assert (conv["padding"].type, conv["padding"].default) == ("int or [h, w]", "`[0, 0]`")
    assert conv["groups"].constraint == "≥ 1, ≤ 2147483647"
    assert conv["kernel"].default == "required"
    pool_stride = {r.key: r for r in key_docs(spec_ops()["maxpool"])}["stride"]
    assert pool_stride.description == "defaults to the kernel, as in PyTorch"  # from _Pool
    assert {r.key: r for r in key_docs(spec_ops()["dropout"])}["p"].constraint == "≥ 0, < 1"


class _Toy(Strict):
    """A toy section."""

    size: Annotated[int, Field(gt=2, le=9, description="how big")] = 4
    tag: Annotated[str, Field(pattern=r"^t\d$")] | None = None  # an optional label


def test_descriptions_bounds_and_patterns_of_a_toy_model() -> None:
    assert key_docs(_Toy) == [
        KeyDoc("size", "int", "`4`", "> 2, ≤ 9", "how big"),
        KeyDoc("tag", "str", "`null`", r"matches `^t\d$`", "an optional label"),
    ]


def test_traits_of_an_op_are_shown() -> None:
    text = markdown_reference()
    add = text.split("### `add`\n", 1)[1].split("###", 1)[0]
    assert "inputs two or more; pointwise no; keeps size yes; mirror `none`" in add
    relu = text.split("### `relu`\n", 1)[1].split("###", 1)[0]
    assert "inputs 1; pointwise yes; keeps size yes; mirror `follow`" in relu


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _printed(capsys, ["--version"])
    assert (code, out) == (0, f"graphspec {metadata.version('graphspec')}\n")


def test_version_falls_back_to_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    tomllib = pytest.importorskip("tomllib")  # the reference parser, Python 3.11+
    monkeypatch.setattr(metadata, "version", not_installed)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert package_version() == declared
