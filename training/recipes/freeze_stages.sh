#!/usr/bin/env bash
# A short run to choose (issue 12): does freezing EfficientNet-Lite0's stem and first stages, which makes a
# training step about 1.2-1.6 times faster on a CPU, rank the fakes better in the same minutes? The default
# recipe's train command at a 20-minute budget with 0, 2 and 3 stages frozen, the same seed and split, compared
# on the validation split (never the test split or dev/). The table of the runs goes to stdout.
# training/reports/freeze_stages.md was made when the recipe's mixture was 2:1:1 (`--mix-fakes 2`, now 4).
#
# Usage (from the repository root, venv active; DATASET from the recipe's two `dfd preprocess` commands):
#   training/recipes/freeze_stages.sh DATASET [WORK_DIR] > training/reports/freeze_stages.md
set -euo pipefail
DATASET=$1
WORK=${2:-/tmp/dfd-freeze}
MINUTES=${MINUTES:-20}
source "$(dirname "$0")/train_args.sh"
for frozen in 0 2 3; do
  echo "[$(date -u +%H:%M:%S)] --freeze-stages $frozen" >&2
  dfd train "$DATASET" --out "$WORK/freeze$frozen" --size 112 --max-minutes "$MINUTES" "${DEFAULT_TRAIN_ARGS[@]}" \
    --freeze-stages "$frozen" >&2
done
python training/recipes/ablation_table.py "$WORK" --minutes "$MINUTES" --title "Freezing the first stages" \
  --by training/recipes/freeze_stages.sh --run "freeze0=nothing frozen (the recipe)" \
  --run "freeze2=stem + stages 1-2 frozen (--freeze-stages 2)" \
  --run "freeze3=stem + stages 1-3 frozen (--freeze-stages 3)"
