#!/usr/bin/env bash
# Run ON THE GPU MACHINE from the repository root, with .device carried (docs/training_on_a_gpu.md):
#   bash perception/training/device/train_base.sh [extra perception.train flags, e.g. --epochs 20]
# Installs the carried wheels, trains multitask_base with base_gpu.yaml under a time limit, and copies the
# checkpoints and logs into $OUT (final.pt, best.pt, last.pt for a resume, history.csv, curves.png, log).
set -uo pipefail
OUT=${OUT:-runs/device_out}
mkdir -p "$OUT"
python3 -m pip install --quiet --no-index --find-links .device/wheels albumentations pycocotools 2>&1 | tail -2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
export PYTHONUNBUFFERED=1
RESUME=()
[ -f .device/resume/last.pt ] && RESUME=(--resume .device/resume/last.pt)
timeout "${TRAIN_SECONDS:-480}" python3 -m perception.train --config perception/training/base_gpu.yaml \
  --output runs/base_gpu --no-progress "${RESUME[@]}" "$@" 2>&1 | tee "$OUT/train.log"
echo "exit ${PIPESTATUS[0]} (124 = stopped by the time limit; last.pt holds the last finished epoch)" | tee -a "$OUT/train.log"
for f in final.pt best.pt last.pt history.csv curves.png config.yaml; do
  [ -f "runs/base_gpu/$f" ] && cp "runs/base_gpu/$f" "$OUT/"
done
ls -la "$OUT"
