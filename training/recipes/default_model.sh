#!/usr/bin/env bash
# Retrains the packaged default model (edge_model/models/default/) on a 2-core CPU in 1 h 40 min to 2 h 10 min:
# preprocess 2-6 min, train 80 min, export 1 min, quantize about 16 min for each float-convolution count tried
# (the int8 tuning; the fp32 encoder is kept if int8 breaks the parity bound), the suite 1-5 min (the packaged
# model's run: 1 h 25 min on a 2-core AMD EPYC, 2026-12-05, before the tuning; its int8 encoder since: 17 min).
# Then it writes the model folder and the suite's report (suite.json, suite.md) that MODEL_CARD.md quotes, and the
# suite at `dfd watch`'s frame rate (suite_live/).
#
# Usage (from the repository root, venv active):
#   training/recipes/default_model.sh [WORK_DIR]
# Environment:
#   DATA     ../shared/data by default (real_faces/, real_photos/, dfdc_faces/pairs.csv, dev/)
#   MINUTES  the training budget (default 80)
#   SIZE     the input size in pixels (default 128: at this budget 112 px ranked DFDC's pairs better than
#            160 px, training/reports/size_112.md; 128 px ranks them as well as 112 and the dev DFDC videos
#            better, 0.93 against 0.82, for 1.3 times the encoder's pixels: training/reports/size_128/)
#   FREEZE_STAGES  the stem and this many of the backbone's first stages keep their ImageNet weights
#            (default 0: 3 won a 20-minute run but not the full recipe's suite,
#            training/reports/freeze_stages/full_run/README.md)
#   MIX_FAKES  the DFDC pairs' share of the training items against 1 for each synthetic kind (default 4, from
#            train_args.sh; 2 made the model before, training/reports/mix_fakes/README.md)
#   FLOAT_CONVS  the float-convolution counts tried for the int8 encoder, in order (default "6 9 15 24 30")
#   TUNE_STEPS  steps of int8 tuning before each try (default 800, about 17 min; 0 quantizes the fp32 weights
#            as they are: training/reports/int8_tuning/)
#   INSTALL  1 copies the model into edge_model/models/default/ and the suite's report into
#            training/reports/ (default 0)
#   FP32_MODEL  a model folder this recipe exported (e.g. edge_model/models/default): skip training
#            and the export, and start from that folder at step 3b: a new int8 encoder, suite and
#            install in about 20 min.
# dev/ is never trained on, and the run's test split (10% of identities and of DFDC originals) is
# used by nothing but the suite: epochs and the threshold are picked on the validation split.
set -euo pipefail
DATA=${DATA:-../shared/data}
WORK=${1:-/tmp/dfd-default}
MINUTES=${MINUTES:-80}
SIZE=${SIZE:-128}
FREEZE_STAGES=${FREEZE_STAGES:-0}
MIX_FAKES=${MIX_FAKES:-}
FLOAT_CONVS=${FLOAT_CONVS:-6 9 15 24 30}
TUNE_STEPS=${TUNE_STEPS:-800}
INSTALL=${INSTALL:-0}
FP32_MODEL=${FP32_MODEL:-}
mkdir -p "$WORK"
stamp() { echo "[$(date -u +%H:%M:%S)] $*"; }

# 1. Faces: $SIZE px aligned crops at margin 1.2 (the crop contract; training/reports/crop_margin.md:
#    at 1.2, 82% of a crop lies inside DFDC's tight crops, 52% at the old 1.5), 10 fps, with
#    468-point face-mesh landmarks (the self-blending and face-swap masks). Identity groups for the
#    people who appear in several files. DFDC pairs: padded 0.3 per side, the face found on the real
#    crop, both crops cut with that box.
stamp preprocess
dfd preprocess --real "$DATA/real_faces" --real "$DATA/real_photos" --groups training/recipes/shared_data_groups.csv \
  --size "$SIZE" --margin 1.2 --fps 10 --workers 2 --out "$WORK/dataset"
dfd preprocess --pairs "$DATA/dfdc_faces/pairs.csv" --size "$SIZE" --margin 1.2 --workers 2 --out "$WORK/dataset"

# 2. Train: EfficientNet-Lite0 (ImageNet) + bidirectional GRU, full fine-tune, $SIZE px, T=4 frames, hop 2.
#    Items: DFDC pairs, self-blended twins and cross-identity face swaps of real faces, 4:1:1
#    (training/reports/ablation.md: the mixture beats each source alone; 160 px beat 112 px in 7 minutes,
#    but not in 80 on DFDC's ranking, training/reports/size_112.md).
#    DFDC pairs get four times the share because they are the only real deepfakes, and a pair (one frame
#    a side) costs a quarter of a video window's encoding: at 2:1:1 each pair was seen 3.7 times in this
#    budget, at 4:1:1 5.7 times, and DFDC's test AUC rose from 0.905 to 0.921 (training/reports/mix_fakes/).
#    One augmentation draw for both images of a pair.
#    The epoch with the best mean validation AUC over the three kinds of fake is kept; 1600 items an
#    epoch, so validation (about 30 s of each ~115-s epoch) takes about a quarter of the budget.
#    Nothing is frozen: freezing the stem and stages 1-3 raised DFDC validation AUC from 0.800 to 0.872 in
#    20-minute runs (training/recipes/freeze_stages.sh, training/reports/freeze_stages.md), but over the
#    full 80 minutes the two runs' validation curves met, and the frozen run's suite traded a GenConViT swap
#    and higher real-video scores for +0.013 on DFDC test pairs (training/reports/freeze_stages/full_run/).
# 3a. Export the fp32 encoder and the GRU head; the threshold puts 2% of the windows of the validation
#    split's real videos above it.
if [ -z "$FP32_MODEL" ]; then
  stamp train
  source "$(dirname "$0")/train_args.sh"  # window 4, hop 2, batch 16, 1600 items an epoch, the 4:1:1 mixture
  dfd train "$WORK/dataset" --out "$WORK/run" --size "$SIZE" --max-minutes "$MINUTES" "${DEFAULT_TRAIN_ARGS[@]}" \
    --freeze-stages "$FREEZE_STAGES" ${MIX_FAKES:+--mix-fakes "$MIX_FAKES"}
  stamp export
  dfd export "$WORK/run/best.pt" --out "$WORK/model" --target-fpr 0.02 --model-id "dfd-default-$SIZE-t4-mix" --precision fp32
  split_from="$WORK/run"  # RUN/split.json
else
  rm -rf "$WORK/model" && cp -r "$FP32_MODEL" "$WORK/model"
  split_from="$WORK/model"  # its model.json's training record rebuilds the split from the dataset
fi

# 3b. The int8 encoder (static QDQ), held to the fp32 one on the validation windows (95th percentile of
#    |p_int8 - p_fp32| <= 0.05); the threshold is set again on its own real video windows. Int8 error starts
#    at the high-resolution early layers (training/reports/int8_parity.md), so the first N convolutions stay
#    float, for the first N of $FLOAT_CONVS that holds the bound (160 px: 9, the stem and blocks 0-2;
#    112 px: 24 at 2:1:1 and 15 at 4:1:1; 128 px: 15 untuned, 6 tuned; python training/recipes/int8_parity.py writes the table for a model). Where none holds,
#    the model keeps its fp32 encoder and model.json records why. Before each try a copy of the fp32 encoder is
#    tuned for int8 (--tune-steps: the int8 rounding simulated, the fp32 encoder's embeddings the target), which
#    took the 128 px model's p95 from 0.066 to 0.043 with 6 float convolutions (training/reports/int8_tuning/).
stamp quantize
: > "$WORK/quantize.log"
quantized=0
for k in $FLOAT_CONVS; do
  if dfd quantize "$WORK/model" --dataset "$WORK/dataset" --float-convs "$k" --tune-steps "$TUNE_STEPS" \
       2>> "$WORK/quantize.log"; then
    quantized=1 && break
  fi
  failed=$(tail -n 1 "$WORK/quantize.log") && echo "$failed"
  [[ $failed == *"int8 parity failed"* ]] || exit 1
done
[ "$quantized" = 1 ] || stamp "no int8 encoder held the parity bound: the model keeps its fp32 encoder"

# 4. The evaluation suite on the test split and dev/ (the numbers of MODEL_CARD.md): videos at the model's 10 fps,
#    the detector on every 2nd of those frames (0.2 s apart; `dfd watch` detects every 3rd frame of 30 fps, 0.1 s;
#    both at 10 and 30 fps in training/reports/detect_every/).
stamp suite
dfd evaluate "$WORK/dataset" --suite "$split_from" --model "$WORK/model" \
  --real-videos "$DATA/real_faces" --dev "$DATA/dev" --pad 0.3 --fps 10 --detect-every 2 --out "$WORK/suite"
# 4b. The same at `dfd watch`'s defaults: every frame of the videos (30 fps), the detector every 3rd frame. The card's
#    goal of no alert on held-out real videos is checked at both rates: at 30 fps one 2-s real clip sat on the
#    threshold (training/reports/detect_every/; for the packaged model this run is its fps30_every3).
stamp suite-live
dfd evaluate "$WORK/dataset" --suite "$split_from" --model "$WORK/model" \
  --real-videos "$DATA/real_faces" --dev "$DATA/dev" --pad 0.3 --fps 30 --detect-every 3 --out "$WORK/suite_live"

# 5. Record the suite's summary in model.json (the model files and their hashes are unchanged).
python - "$WORK" <<'PY'
import json, sys
from pathlib import Path
from edge_model.manifest import load_manifest, write_manifest
work = Path(sys.argv[1])
manifest = load_manifest(work / "model")
suite = json.loads((work / "suite" / "suite.json").read_text())
keep = ("n_real", "n_fake", "insufficient", "auc", "auc_ci95", "accuracy", "precision", "recall", "f1",
        "false_alarms_per_hour", "share_windows_above", "skipped")
manifest.metrics["suite"] = {name: {k: s[k] for k in keep if k in s} for name, s in suite["sets"].items()}
manifest.metrics["suite_note"] = "dfd evaluate --suite (training/recipes/default_model.sh step 4); see suite.md"
if manifest.encoder_precision == "fp32":  # why there is no int8 encoder: the failed quantize's one line
    line = (work / "quantize.log").read_text().strip().splitlines()[-1]
    manifest.metrics["int8_export"] = line.replace(str(work) + "/", "")
manifest.metrics["crop_margin_note"] = (
    "crop margin 1.2 (was 1.5): DFDC's face crops are tight (BlazeFace box = 0.92 of their side after 0.3 padding); "
    "at 1.2, 82% of a contract crop lies inside them, at 1.5 only 52% (training/reports/crop_margin.md). "
    "DFDC pairs are padded 0.3 per side by edge replication and re-cropped with the box found on the real crop.")
write_manifest(work / "model", manifest)
PY

# 6. Install as the packaged default (the encoders, the GRU head, model.json with the hashes).
if [ "$INSTALL" = 1 ]; then
  dest=edge_model/models/default
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$WORK/model"/*.onnx "$WORK/model/model.json" "$dest/"
  cp "$WORK/suite"/{suite.json,suite.md} training/reports/
  mkdir -p training/reports/suite_live && cp "$WORK/suite_live"/{suite.json,suite.md} training/reports/suite_live/
  if [ -z "$FP32_MODEL" ]; then cp "$WORK/run/metrics.json" training/reports/default_train_metrics.json; fi
  stamp "installed in $dest"
fi
stamp done
