#!/usr/bin/env bash
# Part 1 of the GPU suite: install the carried wheels, make graphspec importable, check.
#
# usage: install.sh PYTHON WHEELS_DIR SITE_DIR OUT_DIR
#
# The GPU machine has no package registry, so what its image lacks (pydantic, pycocotools:
# see docs/gpu-suite.md) comes as wheels carried beside the repository (wheels.sh fills the
# folder). They go into SITE_DIR with --no-deps, never into the image's own environment,
# so torch and its CUDA libraries stay exactly as the image has them; the suite puts
# SITE_DIR first on PYTHONPATH. graphspec is then installed editable (--no-deps,
# --no-build-isolation: nothing to download) for the `graphspec` command; if that fails,
# the repository on PYTHONPATH still imports and the suite calls `python -m graphspec.cli`.
# GPU_SUITE_EDITABLE=0 leaves the environment alone (the dry run in the tests).
set -u -o pipefail
if [ $# -ne 4 ]; then
    echo "usage: $0 PYTHON WHEELS_DIR SITE_DIR OUT_DIR" >&2
    exit 2
fi
PY=$1 WHEELS=$2 SITE=$3 OUT=$4
case $PY in */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;; esac # survives cd

shopt -s nullglob
wheels=("$WHEELS"/*.whl)
if [ ${#wheels[@]} -gt 0 ]; then
    for wheel in "${wheels[@]}"; do
        case $(basename "$wheel") in
        torch-* | torchvision-* | triton-* | nvidia_*)
            echo "refusing $wheel: the image's torch and CUDA libraries must stay as they are"
            exit 1
            ;;
        esac
    done
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" "${wheels[@]}" || exit 1
    echo "installed into $SITE: ${wheels[*]##*/}"
else
    echo "no wheels in $WHEELS (wheels.sh fills it): using what is installed"
fi

if [ "${GPU_SUITE_EDITABLE:-1}" = 0 ]; then
    echo "no editable install (GPU_SUITE_EDITABLE=0): graphspec imports through PYTHONPATH"
elif (cd / && PYTHONPATH=$SITE "$PY" -c 'import graphspec' 2>/dev/null); then
    where=$(cd / && PYTHONPATH=$SITE "$PY" -c 'import graphspec; print(graphspec.__file__)')
    echo "graphspec already installed: $where"
elif "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e .; then
    echo "graphspec installed editable (--no-deps)"
else
    echo "editable install failed: graphspec imports through PYTHONPATH"
fi

"$PY" -m benchmarks.tools.gpu_suite.env --out "$OUT"
