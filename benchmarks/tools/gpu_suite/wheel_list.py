"""Which wheels a bare GPU machine needs: graphspec's dependencies and theirs, less what
the GPU image already has.

``python -m benchmarks.tools.gpu_suite.wheel_list [--extra NAME ...]`` prints one
``name==version`` line per wheel for ``wheels.sh`` to download.

The GPU machine reaches no registry, so every package graphspec imports that its image
lacks must be carried; missing one costs a part of the suite, found only there. The list is
worked out rather than kept by hand, so a dependency added to pyproject.toml (Optuna was)
is carried without anyone remembering: the dependencies of pyproject.toml are walked
through the metadata of this environment (markers evaluated for the GPU machine's Python
3.12 on x86-64 Linux), stopping at packages the image has, whose own needs the image meets.
Versions are this environment's, the ones the tests pass with.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"

_IMAGE_TEXT = """
    absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
    botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
    coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
    diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
    frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub
    humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt
    jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
    lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py
    markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict
    multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy
    numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
    nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver
    nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink
    nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
    opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint
    packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client
    propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks
    pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout
    pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu
    safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
    sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels
    sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile
    tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics
    torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect
    urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
"""
IMAGE = frozenset(_IMAGE_TEXT.split())
"""The GPU image's Python packages (docs of the device tool, read 2026-11-17)."""

ALWAYS = {"typing-extensions"}
"""Carried although the image has them, because graphspec's dependencies need a newer
version than images usually hold (pydantic-core wants typing-extensions >= 4.16)."""

TARGET = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "platform_machine": "x86_64",
    "platform_system": "Linux",
    "sys_platform": "linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
"""The GPU machine, for dependency markers."""


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(extras: Iterable[str] = (), pyproject: Path = PYPROJECT) -> list[str]:
    """pyproject.toml's dependencies and those of ``extras`` (needs Python 3.11's tomllib)."""
    import tomllib

    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    return [*project["dependencies"], *(req for extra in extras for req in optional[extra])]


def _applies(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(TARGET)


def carried(requirements: Iterable[str]) -> dict[str, str | None]:
    """Every package ``requirements`` need, transitively, that the image lacks (or that
    :data:`ALWAYS` carries) -> its version here (None when not installed here: then its
    own dependencies are unknown, and :func:`main` warns)."""
    wanted: dict[str, str | None] = {}
    queue = [Requirement(text) for text in requirements]
    while queue:
        requirement = queue.pop(0)
        name = normalize(requirement.name)
        if not _applies(requirement) or name in wanted:
            continue
        if name in IMAGE and name not in ALWAYS:
            continue
        try:
            wanted[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            wanted[name] = None
            continue
        queue += [Requirement(text) for text in metadata.requires(name) or ()]
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extra", action="append", default=[], help="an optional group too")
    args = parser.parse_args(argv)
    for name, version in sorted(carried(project_requirements(args.extra)).items()):
        if version is None:
            print(
                f"warning: {name} is not installed here: its needs are not listed", file=sys.stderr
            )
        print(name if version is None else f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
