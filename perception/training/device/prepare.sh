#!/usr/bin/env bash
# Run HERE (not on the GPU machine), from the repository root: packs the training data and the Python
# wheels the GPU machine lacks into .device/ (git-ignored), which the device call then carries.
#   bash perception/training/device/prepare.sh
set -euo pipefail
mkdir -p .device
if [ ! -f .device/pack/camvid/train/index.json ]; then
  .venv/bin/python -m perception.training.pack --config perception/training/generalise_v3_cpu.yaml \
    --output .device/pack --jpeg-quality 75 --every cityscapes=3 --every idd=2 --max-mib 46
fi
# The CUDA image has torch, OpenCV, scipy, PyYAML, tqdm and matplotlib; training also needs these (cp312).
.venv/bin/pip download --quiet --python-version 3.12 --only-binary=:all: --no-deps \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  -d .device/wheels albumentations==2.0.8 albucore==0.0.24 pydantic pydantic-core annotated-types \
  typing-inspection simsimd stringzilla pycocotools
du -sh .device/pack .device/wheels
git ls-files -z | xargs -0 du -cb | tail -1 | awk '{printf "tracked files: %.1f MiB (all together must stay under 64 MiB)\n", $1/1048576}'
