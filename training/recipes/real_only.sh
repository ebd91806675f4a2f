#!/usr/bin/env bash
# A real-only training run on ../shared/data (real face videos + LFW/misc photos), with
# self-blended fakes, sized for ~35 minutes on a shared 2-core CPU; then export and the dev checks.
# Usage: training/recipes/real_only.sh [WORK_DIR]   (run from the repository root, venv active)
set -euo pipefail
DATA=${DATA:-../shared/data}
WORK=${1:-/tmp/dfd-real-only}
mkdir -p "$WORK"

# 1. Faces: 112 px crops (the training size: no resize between preparation and the run time), 10 fps.
dfd preprocess --real "$DATA/real_faces" --real "$DATA/real_photos" \
  --groups training/recipes/shared_data_groups.csv --size 112 --fps 10 --out "$WORK/dataset"

# 2. Train: full fine-tune, T=4, paired spatial+temporal self-blending, 10% of identities held out.
dfd train "$WORK/dataset" --out "$WORK/run" --real-only --size 112 --window 4 --hop 2 \
  --epochs 2 --batch 8 --max-items-per-epoch 1100 --max-windows-per-clip 6 \
  --val-fraction 0.1 --val-windows-per-clip 3 --threads 2 --max-minutes 34 --seed 0

# 3. Export: int8 encoder, parity check, threshold for 5% false alarms on held-out real windows.
dfd export "$WORK/run/best.pt" --out "$WORK/model" --target-fpr 0.05

# 4. Evaluate on held-out identities (real clips + their self-blended twins) and on dev.
dfd evaluate "$WORK/dataset" --checkpoint "$WORK/run/best.pt" --out "$WORK/eval_val"
dfd evaluate "$DATA/dev/dfdc_face_crops" --model "$WORK/model" --pad 0.3 --out "$WORK/eval_dfdc"
dfd evaluate --fake "$DATA/dev/fake_clips" --real "$DATA/real_faces" --holdout-of "$WORK/run/best.pt" \
  --model "$WORK/model" --fps 10 --out "$WORK/eval_clips"
