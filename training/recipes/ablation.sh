#!/usr/bin/env bash
# What each source of fakes adds (issue 12): the same model, data split and CPU budget, trained on
# each source alone and on the mixture, and the mixture at 160 px against 112 px.
# Writes training/reports/ablation.md from the runs' metrics.json (validation split; never the test split).
#
# Usage (repository root, venv active): training/recipes/ablation.sh DATASET [WORK_DIR]
#   DATASET  a folder made by step 1 of training/recipes/default_model.sh
#   MINUTES  the budget of each run (default 7)
set -euo pipefail
DATASET=$1
WORK=${2:-/tmp/dfd-ablation}
MINUTES=${MINUTES:-7}
mkdir -p "$WORK"
common=(--window 4 --hop 2 --batch 16 --epochs 40 --max-items-per-epoch 800 --max-minutes "$MINUTES"
        --val-fraction 0.08 --test-fraction 0.1 --val-windows-per-clip 2 --aux-weight 1.0 --patience 40
        --threads 2 --workers 1 --seed 0)
run() {  # name size fakes sbi swap
  echo "[$(date -u +%H:%M:%S)] $1"
  dfd train "$DATASET" --out "$WORK/$1" --size "$2" --mix-fakes "$3" --mix-sbi "$4" --mix-swap "$5" "${common[@]}" \
    > "$WORK/$1.log" 2>&1
}
run fakes-112 112 1 0 0
run sbi-112 112 0 1 0
run swap-112 112 0 0 1
run mixture-112 112 1 1 1
run mixture-160 160 1 1 1
python training/recipes/ablation_table.py "$WORK" --minutes "$MINUTES" > training/reports/ablation.md
echo "[$(date -u +%H:%M:%S)] wrote training/reports/ablation.md"
