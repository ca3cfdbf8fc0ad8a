#!/usr/bin/env bash
# Fill the folder of wheels the GPU suite installs on a bare GPU machine.
#
# usage: benchmarks/tools/gpu_suite/wheels.sh [DIR]      (default DIR: .whl at the repo root)
#
# The GPU machine reaches no registry, and its image (Python 3.12, torch 2.11 + CUDA,
# torchvision, numpy, pandas, pytest, pytest-xdist...) lacks some of what graphspec needs:
# pydantic and its core, pycocotools, Optuna with its SQL libraries. wheel_list.py works out
# which (pyproject.toml's dependencies walked through this environment, less the image's
# packages) at this environment's versions; this downloads them for the machine's Python
# and platform (x86-64 manylinux), --no-deps, one version of each (two stop the install).
# The folder goes into .git/info/exclude: name it in the device call's `carry`
# (docs/gpu-suite.md). More: GPU_SUITE_EXTRA_WHEELS="name==1.0 ...", or
# GPU_SUITE_EXTRAS="onnx" for an optional group's (the image has onnx; ray is too big).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
DIR=${1:-$REPO/.whl}
PYVER=${GPU_PYTHON_VERSION:-3.12}
PY=${PYTHON:-$REPO/.venv/bin/python}
[ -x "$PY" ] || PY=python3

mkdir -p "$DIR"
extras=()
for extra in ${GPU_SUITE_EXTRAS:-}; do extras+=(--extra "$extra"); done
mapfile -t wanted < <(cd "$REPO" && "$PY" -m benchmarks.tools.gpu_suite.wheel_list "${extras[@]}")
shopt -s nocaseglob
for wanted_one in "${wanted[@]}"; do
    name=${wanted_one%%==*}
    rm -f "$DIR/${name//-/_}"-*.whl # one version of each
done
shopt -u nocaseglob
# shellcheck disable=SC2206  # the extra names are meant to split
wanted+=(${GPU_SUITE_EXTRA_WHEELS:-})
echo "downloading: ${wanted[*]}"

"$PY" -m pip download --no-deps --only-binary=:all: --python-version "$PYVER" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d "$DIR" "${wanted[@]}"

relative=${DIR#"$REPO"/}
exclude=$(git -C "$REPO" rev-parse --git-path info/exclude 2>/dev/null || true)
if [ -n "$exclude" ] && [ "$relative" != "$DIR" ]; then
    case $exclude in /*) ;; *) exclude=$REPO/$exclude ;; esac
    mkdir -p "$(dirname "$exclude")"
    grep -qxF "/$relative/" "$exclude" 2>/dev/null || echo "/$relative/" >>"$exclude"
fi
du -sh "$DIR"
if [ "$relative" = "$DIR" ]; then
    echo "$DIR is outside the repository: only folders inside it can be carried"
else
    echo "carry it: run(carry=[\"$relative\"], ...) with GPU_SUITE_WHEELS=$relative if not .whl"
fi
