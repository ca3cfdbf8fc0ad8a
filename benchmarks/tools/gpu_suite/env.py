"""Part 1's check: is every package graphspec needs importable, and what machine is this?

``python -m benchmarks.tools.gpu_suite.env --out DIR``

The GPU machine is a fixed image with no registry: a package it lacks has to be carried as
a wheel (``wheels.sh``), and one that is missing shows up here, by name, before the other
parts fail on an ImportError each. It also records what the numbers depend on: Python,
torch and CUDA versions, the GPU, the TF32 settings, torchvision. Writes ``DIR/env.md``
and ``DIR/env.json``; exits 1 when a required package is missing or graphspec is imported
from somewhere other than this checkout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from benchmarks.tools.gpu_suite import records
from benchmarks.tools.gpu_suite.wheel_list import normalize, project_requirements

REPO = Path(__file__).resolve().parents[3]

MODULES = {"pyyaml": "yaml", "pillow": "PIL"}
"""Distributions whose module is not named like them."""

FALLBACK = ("torch", "pyyaml", "networkx", "pydantic", "pandas", "matplotlib", "tqdm")
FALLBACK += ("pillow", "pyarrow", "pycocotools", "optuna")
"""pyproject.toml's dependencies, for a Python without tomllib (before 3.11)."""


def required() -> dict[str, str]:
    """pyproject.toml's dependencies, distribution -> module, read from the file so that a
    dependency added there is checked here too."""
    try:
        names = [Requirement(text).name for text in project_requirements()]
    except ImportError:
        names = list(FALLBACK)
    return {normalize(n): MODULES.get(normalize(n), normalize(n).replace("-", "_")) for n in names}


OPTIONAL = {
    "torchvision": "torchvision",
    "onnx": "onnx",
    "onnxscript": "onnxscript",
    "onnxruntime": "onnxruntime",
    "pytest": "pytest",
    "hypothesis": "hypothesis",
    "pytest-xdist": "xdist",
    "pytest-timeout": "pytest_timeout",
}
"""What some tests and parts use and skip without (the ``onnx`` and ``dev`` extras, the
cross-check, the test runner's plugins)."""


def probe(module: str) -> tuple[bool, str]:
    """(imports, version or the import error) of ``module``."""
    try:
        imported = importlib.import_module(module)
    except Exception as error:  # a wheel for another torch fails in several ways
        return False, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return True, str(getattr(imported, "__version__", "?"))


def machine() -> dict[str, Any]:
    """Versions and the device, for the summary's first lines."""
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda": torch.version.cuda,
        "cudnn_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info |= {
            "device": props.name,
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "cudnn": torch.backends.cudnn.version(),
        }
    return info


def graphspec_location() -> tuple[str, bool]:
    """Where graphspec imports from, and whether that is this checkout (another copy
    installed on the machine would be tested instead of this one); the error if it does
    not import at all (a missing dependency, listed beside it)."""
    try:
        import graphspec
    except Exception as error:
        return f"does not import: {type(error).__name__}: {error}", False
    where = Path(graphspec.__file__).resolve()
    return str(where.parent), REPO in where.parents


def write(out: Path, info: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """``env.json`` (read by the suite and the summary) and the ``env.md`` fragment."""
    (out / "env.json").write_text(json.dumps(info | {"packages": rows}, indent=1))
    lines = "\n".join(f"- {key}: {records.cell(value)}" for key, value in info.items())
    columns = [(key, key) for key in ("package", "group", "imports", "version")]
    body = lines + "\n\n" + records.table(rows, columns)
    records.write_fragment(out / "env.md", "Environment (part 1)", body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = []
    for group, table in (("required", required()), ("optional", OPTIONAL)):
        for dist, module in table.items():
            ok, version = probe(module)
            rows.append({"package": dist, "group": group, "imports": ok, "version": version})
    where, inside = graphspec_location()
    info = machine() | {"graphspec": where}
    for key, value in info.items():
        print(f"{key}: {value}")
    for row in rows:
        print(f"{row['package']:15s} {row['group']:9s} {row['version']}")
    write(args.out, info, rows)
    missing = [r["package"] for r in rows if r["group"] == "required" and not r["imports"]]
    if missing:
        print(f"missing: {', '.join(missing)} (carry them: benchmarks/tools/gpu_suite/wheels.sh)")
    elif not inside:
        print(f"graphspec from {where}, not from {REPO}")
    else:
        print(f"all required packages import; graphspec from {where}")
    return 1 if missing or not inside else 0


if __name__ == "__main__":
    sys.exit(main())
