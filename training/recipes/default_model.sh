#!/usr/bin/env bash
# Retrains the packaged default model (edge_model/models/default/) from real faces only, on a
# 2-core CPU in 35-60 minutes: preprocess ~3 min, train 30 min on free cores (cut at 50), export ~2 min,
# evaluate ~2 min.
# Then it writes the model folder and the dev reports that MODEL_CARD.md quotes.
#
# Usage (from the repository root, venv active):
#   training/recipes/default_model.sh [WORK_DIR]
# Environment:
#   DATA     ../shared/data by default (real_faces/, real_photos/, dev/)
#   REAL     the folders of real videos/photos to train on (default: $DATA/real_faces $DATA/real_photos);
#            any folder of real videos works, and MORE identities help more than more frames
#   INSTALL  1 copies the exported model into edge_model/models/default/ (default 0)
# dev/ is never trained on: it is only scored in step 4.
set -euo pipefail
DATA=${DATA:-../shared/data}
WORK=${1:-/tmp/dfd-default}
REAL=${REAL:-"$DATA/real_faces $DATA/real_photos"}
INSTALL=${INSTALL:-0}
mkdir -p "$WORK"
stamp() { echo "[$(date -u +%H:%M:%S)] $*"; }

# 1. Faces: 112 px aligned crops at the run time's margin, 10 fps, with 468-point face-mesh landmarks
#    (the self-blending masks' hull). Identity groups for the people who appear in several files.
stamp preprocess
real_args=()
for d in $REAL; do real_args+=(--real "$d"); done
dfd preprocess "${real_args[@]}" --groups training/recipes/shared_data_groups.csv \
  --size 112 --fps 10 --out "$WORK/dataset"

# 2. Train: EfficientNet-Lite0 (ImageNet) + bidirectional GRU, full fine-tune, T=4 frames, hop 2.
#    Real windows and their self-blended twins (half spatial, half temporal/flickering blends),
#    the same augmentation on both images of a pair; 10% of identities held out for validation.
#    7 epochs of 1,200 pairs (~4 min each on 2 free cores), cut at 50 minutes if the CPU is busier;
#    the epoch with the best held-out AUC is kept.
stamp train
dfd train "$WORK/dataset" --out "$WORK/run" --real-only --size 112 --window 4 --hop 2 \
  --epochs 7 --batch 8 --max-items-per-epoch 1200 --max-windows-per-clip 8 \
  --val-fraction 0.1 --val-windows-per-clip 3 --patience 4 --threads 2 --max-minutes 50 --seed 0

# 3. Export: int8 encoder (parity-checked against PyTorch), fp32 encoder, GRU head; the threshold
#    gives 5% false alarms on the held-out identities' real windows.
stamp export
dfd export "$WORK/run/best.pt" --out "$WORK/model" --target-fpr 0.05 --model-id dfd-default-112-t4

# 4. Evaluate (the numbers of MODEL_CARD.md).
stamp evaluate
# held-out identities: their real windows vs their self-blended twins (int8 model, as shipped)
dfd evaluate "$WORK/dataset" --model "$WORK/model" --holdout-of "$WORK/run/best.pt" --out "$WORK/eval_val"
# dev: DFDC face crops, padded out to our crop margin (their framing is tighter than ours)
dfd evaluate "$DATA/dev/dfdc_face_crops" --model "$WORK/model" --pad 0.3 --out "$WORK/eval_dfdc"
# dev: fake videos (2 face swaps, 4 SadTalker animations) vs the real videos of held-out identities
dfd evaluate --fake "$DATA/dev/fake_clips" --real "$DATA/real_faces" --holdout-of "$WORK/run/best.pt" \
  --model "$WORK/model" --fps 10 --out "$WORK/eval_clips"
# dev: MesoNet's 4 test crops
dfd evaluate --real "$DATA/dev/mesonet_test_images/real" --fake "$DATA/dev/mesonet_test_images/df" \
  --model "$WORK/model" --pad 0.3 --out "$WORK/eval_meso"

# 5. Record the evaluations in model.json (the model files and their hashes are unchanged).
python - "$WORK" <<'PY'
import json, sys
from pathlib import Path
from edge_model.manifest import load_manifest, write_manifest
work = Path(sys.argv[1])
manifest = load_manifest(work / "model")
reports = {name: json.loads((work / f"eval_{name}" / "report.json").read_text())
           for name in ("val", "dfdc", "clips", "meso")}
manifest.metrics["evaluate"] = {name: {"threshold": r["threshold"], **r["levels"]} for name, r in reports.items()}
manifest.metrics["evaluate_note"] = (
    "dfd evaluate reports (training/recipes/default_model.sh step 4): val = held-out identities vs their "
    "self-blended twins; dfdc = dev DFDC face crops padded 0.3; clips = dev fake videos vs held-out real "
    "videos at 10 fps; meso = MesoNet's 4 test crops"
)
write_manifest(work / "model", manifest)
PY

# 6. Install as the packaged default (int8 + fp32 encoders, GRU head, model.json with the hashes).
if [ "$INSTALL" = 1 ]; then
  dest=edge_model/models/default
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$WORK/model"/{encoder.onnx,encoder_fp32.onnx,temporal.onnx,model.json} "$dest/"
  stamp "installed in $dest"
fi
stamp done
