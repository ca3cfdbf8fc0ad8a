#!/usr/bin/env bash
# Transfer learning end to end on the built-in shapes data, in a few minutes on a CPU:
#
#   1. train specs/classifier-small.yaml (which shape kind is the largest object);
#   2. make it fully convolutional (FC -> conv) and slide it over a 128x128 image: a 9x9
#      heat-map per class (runs/transfer/heatmap.png; classifier_fcn.py is its source);
#   3. start a segmentation network's encoder from the classifier's weights
#      (examples/segnet-transfer.yaml, encoder_init) and bench it beside the same network
#      trained from scratch (examples/segnet-scratch.yaml) at equal, small epochs.
#
# Run from anywhere: ./examples/transfer.sh. Everything goes to runs/transfer/, which is
# cleared first (segnet-transfer.yaml reads runs/transfer/classifier-small.pt, and a
# resumed sweep would skip a job whose spec did not change even though its checkpoint did).
# CLASSIFIER_EPOCHS, EPOCHS and LIMIT override the defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHSPEC=${GRAPHSPEC:-.venv/bin/graphspec}
PYTHON=${PYTHON:-.venv/bin/python}
CLASSIFIER_EPOCHS=${CLASSIFIER_EPOCHS:-20}
EPOCHS=${EPOCHS:-3}
LIMIT=${LIMIT:-256}
OUT=runs/transfer

rm -rf "$OUT"
mkdir -p "$OUT"

echo "== 1. train the classifier ($CLASSIFIER_EPOCHS epochs)"
"$GRAPHSPEC" bench specs/classifier-small.yaml --out "$OUT/classifier" \
    --epochs "$CLASSIFIER_EPOCHS" --no-report --quiet
job=$(find "$OUT/classifier/jobs" -mindepth 1 -maxdepth 1 -type d | head -n 1)
# A run keeps its weights as plain state_dicts: best.pt (best validation epoch) and last.pt.
cp "$job/best.pt" "$OUT/classifier-small.pt"
echo "classifier weights: $OUT/classifier-small.pt (from $job)"

echo "== 2. FC -> conv: the classifier as a heat-map"
"$GRAPHSPEC" compile --fcn specs/classifier-small.yaml -o "$OUT/classifier_fcn.py"
"$PYTHON" examples/heatmap.py specs/classifier-small.yaml "$OUT/classifier-small.pt" \
    --size 128x128 --out "$OUT/heatmap.png"

echo "== 3. segmentation from the classifier's encoder vs from scratch ($EPOCHS epochs)"
"$GRAPHSPEC" check examples/segnet-transfer.yaml examples/segnet-scratch.yaml
"$GRAPHSPEC" bench examples/segnet-transfer.yaml examples/segnet-scratch.yaml \
    --out "$OUT/segmentation" --epochs "$EPOCHS" --limit "$LIMIT" --no-report --quiet
"$PYTHON" - "$OUT/segmentation/results.csv" <<'EOF'
import sys

import pandas as pd

rows = pd.read_csv(sys.argv[1])
print(rows[["spec", "status", "miou", "pixel_acc", "train_s"]].to_string(index=False))
EOF
