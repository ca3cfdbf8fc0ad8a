"""One CLI convention: every subcommand, given a missing file, a folder where a file is
expected (or a file where a folder is), or a garbage option value, answers with one line on
stderr and the exit code that says which kind of failure it was (2: the command line or a
missing input; 1: an input that exists but is invalid), never a traceback and never
"internal error". And ``--format text|json`` on every command that prints results.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from graphspec.cli import main
from tests import tiny_seg

JOB = "JOB"
"""Stands for the trained job folder in the argument lists below."""
BENCH = ["--epochs", "1", "--limit", "8", "--batch-size", "4", "--quiet", "--threads", "1"]
RUN = ["--out", "r", *BENCH]
NORM = ["--out", "p", "--normalize", "x"]

CASES: list[tuple[str, list[str], int]] = [
    ("check-missing", ["check", "missing.yaml"], 2),
    ("check-empty-folder", ["check", "adir"], 2),
    ("check-not-a-spec", ["check", "afile.txt"], 1),
    ("check-format", ["check", "tiny.yaml", "--format", "x"], 2),
    ("check-lock-missing", ["check", "tiny.yaml", "--lock", "missing.json"], 2),
    ("check-write-lock-folder", ["check", "tiny.yaml", "--write-lock", "adir"], 2),
    ("check-write-lock-under-file", ["check", "tiny.yaml", "--write-lock", "afile.txt/l"], 2),
    ("summary-missing", ["summary", "missing.yaml"], 2),
    ("summary-folder", ["summary", "adir"], 2),
    ("summary-not-a-spec", ["summary", "afile.txt"], 1),
    ("summary-format", ["summary", "tiny.yaml", "--format", "x"], 2),
    ("schema-extra", ["schema", "--markdown", "x"], 2),
    ("schema-option", ["schema", "--opset", "x"], 2),
    ("compile-missing", ["compile", "missing.yaml"], 2),
    ("compile-folder", ["compile", "adir"], 2),
    ("compile-opset-x", ["compile", "tiny.yaml", "--opset", "x"], 2),
    ("compile-opset-3", ["compile", "tiny.yaml", "--opset", "3", "--onnx", "m.onnx"], 2),
    ("compile-o-folder", ["compile", "tiny.yaml", "-o", "adir"], 2),
    ("compile-onnx-folder", ["compile", "tiny.yaml", "--onnx", "adir"], 2),
    ("compile-o-under-file", ["compile", "tiny.yaml", "-o", "afile.txt/m.py"], 2),
    ("compile-o-no-folder", ["compile", "tiny.yaml", "-o", "nowhere/m.py"], 2),
    ("compile-weights-missing", ["compile", "tiny.yaml", "--weights", "no.pt", "-o", "m.py"], 2),
    ("compile-weights-folder", ["compile", "tiny.yaml", "--weights", "adir", "-o", "m.py"], 2),
    ("compile-weights-bad", ["compile", "tiny.yaml", "--weights", "afile.txt", "-o", "m.py"], 1),
    ("bench-missing", ["bench", "missing.yaml", *RUN], 2),
    ("bench-empty-folder", ["bench", "adir", *RUN], 2),
    ("bench-out-file", ["bench", "tiny.yaml", "--out", "afile.txt", *BENCH], 2),
    ("bench-out-under-file", ["bench", "tiny.yaml", "--out", "afile.txt/r", *BENCH], 2),
    ("bench-device", ["bench", "tiny.yaml", *RUN, "--device", "tpu"], 2),
    ("bench-cuda-99", ["bench", "tiny.yaml", *RUN, "--device", "cuda:99"], 2),
    ("bench-batch-size", ["bench", "tiny.yaml", *RUN, "--batch-size", "-1"], 2),
    ("bench-image-size", ["bench", "tiny.yaml", *RUN, "--image-size", "0"], 2),
    ("bench-voc-missing", ["bench", "tiny.yaml", *RUN, "--data", "voc:/missing"], 2),
    ("bench-coco-missing", ["bench", "tiny.yaml", *RUN, "--data", "coco:/missing"], 2),
    ("bench-voc-file", ["bench", "tiny.yaml", *RUN, "--data", "voc:afile.txt"], 2),
    ("bench-data-unknown", ["bench", "tiny.yaml", *RUN, "--data", "foo"], 2),
    ("report-missing", ["report", "missing"], 2),
    ("report-file", ["report", "afile.txt"], 2),
    ("report-spec", ["report", "tiny.yaml"], 2),
    ("report-empty-folder", ["report", "adir"], 2),
    ("report-out-file", ["report", "run", "--out", "afile.txt"], 2),
    ("report-format", ["report", "run", "--format", "x"], 2),
    ("demo-specs-missing", ["demo", "--specs-dir", "missing", *RUN], 2),
    ("demo-specs-file", ["demo", "--specs-dir", "afile.txt", *RUN], 2),
    ("demo-out-file", ["demo", "--out", "afile.txt", *BENCH], 2),
    ("demo-device", ["demo", *RUN, "--device", "tpu"], 2),
    ("demo-voc-missing", ["demo", *RUN, "--data", "voc:/missing"], 2),
    ("demo-batch-size", ["demo", *RUN, "--batch-size", "-1"], 2),
    ("predict-model-missing", ["predict", "missing", "img", "--out", "p"], 2),
    ("predict-model-folder", ["predict", "adir", "img", "--out", "p"], 2),
    ("predict-spec-no-weights", ["predict", "tiny.yaml", "img", "--out", "p"], 2),
    ("predict-weights-missing", ["predict", "tiny.yaml", "img", "--weights", "no.pt"], 2),
    ("predict-weights-folder", ["predict", "tiny.yaml", "img", "--weights", "adir"], 2),
    ("predict-image-missing", ["predict", JOB, "missing.png", "--out", "p"], 2),
    ("predict-no-images", ["predict", JOB, "adir", "--out", "p"], 2),
    ("predict-not-an-image", ["predict", JOB, "afile.txt", "--out", "p"], 1),
    ("predict-out-file", ["predict", JOB, "img", "--out", "afile.txt"], 2),
    ("predict-out-in-input", ["predict", JOB, "img", "--out", "img/p"], 2),
    ("predict-scales", ["predict", JOB, "img", "--out", "p", "--scales", "a"], 2),
    ("predict-conf", ["predict", JOB, "img", "--out", "p", "--conf", "2"], 2),
    ("predict-device", ["predict", JOB, "img", "--out", "p", "--device", "tpu"], 2),
    ("predict-normalize", ["predict", "tiny.yaml", "img", "--weights", "JOB/best.pt", *NORM], 2),
    ("predict-damaged-config", ["predict", "damaged", "img", "--out", "p"], 1),
    ("val-missing", ["val", "missing"], 2),
    ("val-folder", ["val", "adir"], 2),
    ("val-spec-no-weights", ["val", "tiny.yaml"], 2),
    ("val-job-with-weights", ["val", JOB, "--weights", "afile.txt"], 2),
    ("val-device", ["val", JOB, "--device", "tpu"], 2),
    ("val-cuda-99", ["val", JOB, "--device", "cuda:99"], 2),
    ("val-batch-size", ["val", JOB, "--batch-size", "-1"], 2),
    ("val-batch-size-huge", ["val", JOB, "--batch-size", "1" + "0" * 20], 2),
    ("val-scales", ["val", JOB, "--scales", "a"], 2),
    ("val-split", ["val", JOB, "--split", "x"], 2),
    ("val-voc-missing", ["val", JOB, "--data", "voc:/missing"], 2),
    ("val-data-unknown", ["val", JOB, "--data", "foo"], 2),
    ("val-out-file", ["val", JOB, "--out", "afile.txt"], 2),
    ("val-normalize", ["val", "tiny.yaml", "--weights", "JOB/best.pt", "--normalize", "x"], 2),
    ("val-damaged-config", ["val", "damaged"], 1),
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a spec, a trained job (``run/jobs/...``), a copy of it with a damaged
    config.json, an image folder, an empty folder and a text file."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "tiny.yaml").write_text(tiny_seg())
    (root / "afile.txt").write_text("not a spec, an image or a folder\n")
    (root / "adir").mkdir()
    (root / "img").mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(root / "img" / "a.png")
    argv = ["bench", str(root / "tiny.yaml"), "--out", str(root / "run"), *BENCH, "--no-report"]
    assert main(argv) == 0
    (job,) = (root / "run" / "jobs").iterdir()
    shutil.copytree(job, root / "damaged")
    (root / "damaged" / "config.json").write_text("{not json")
    return root


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return int(exc.code or 0)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize(("argv", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_with_its_exit_code(
    inputs: Path,
    argv: list[str],
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(inputs)
    monkeypatch.delenv("GRAPHSPEC_DEBUG", raising=False)
    job = str(next((inputs / "run" / "jobs").iterdir()).relative_to(inputs))
    argv = [a.replace(JOB, job) for a in argv]
    outputs = [inputs / name for name in ("r", "p", "m.py", "m.onnx")]
    for path in outputs:  # left by an earlier case that got as far as writing
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    assert _run(argv) == code
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), err
    assert "internal error" not in err and "Traceback" not in err
    if code == 2:  # refused before any work: nothing written
        assert not any(path.exists() for path in outputs)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["check", "tiny.yaml"], "files"),
        (["summary", "tiny.yaml"], "layers"),
        (["compile", "tiny.yaml", "-o", "m.py", "--onnx", "m.onnx"], "written"),
        (["report", "run", "--out", "out/report"], "written"),
        (["predict", JOB, "img", "--out", "out/p"], "written"),
        (["val", JOB], "metrics"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else None,
)
def test_format_json_is_one_json_document(
    inputs: Path,
    argv: list[str],
    key: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(inputs)
    job = str(next((inputs / "run" / "jobs").iterdir()).relative_to(inputs))
    argv = [a.replace(JOB, job) for a in argv]
    assert _run([*argv, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert key in document
    for path in document.get("written", []):
        assert Path(path).is_file(), path
        Path(path).unlink()


@pytest.mark.parametrize("command", ["summary", "val"])
def test_json_stays_a_hidden_alias(
    inputs: Path,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(inputs)
    target = "tiny.yaml" if command == "summary" else str(next((inputs / "run" / "jobs").iterdir()))
    assert _run([command, target, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--json" not in capsys.readouterr().out
