# The default model's `dfd train` arguments, besides the dataset, --out, --size and --max-minutes. Sourced by
# default_model.sh and by the short runs that compare a change against it (freeze_stages.sh), so the two
# cannot drift apart. default_model.sh says why each one is what it is.
DEFAULT_TRAIN_ARGS=(--window 4 --hop 2 --batch 16 --epochs 60 --max-items-per-epoch 1600
  --val-fraction 0.08 --test-fraction 0.1 --val-windows-per-clip 2 --aux-weight 1.0 --patience 60
  --threads 2 --workers 1 --seed 0 --mix-fakes 4 --mix-sbi 1 --mix-swap 1)
