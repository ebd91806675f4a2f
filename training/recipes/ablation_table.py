"""The ablation table: each run's best epoch (by the mean of the per-source validation AUCs).

`--run NAME=LABEL` (repeated) and `--title` make the same table for other runs
(training/recipes/freeze_stages.sh); NAME is a run folder under WORK or a metrics file there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RUNS = {
    "fakes-112": "DFDC pairs alone, 112 px",
    "sbi-112": "self-blended twins alone, 112 px",
    "swap-112": "face-swap twins alone, 112 px",
    "mixture-112": "the mixture (1:1:1), 112 px",
    "mixture-160": "the mixture (1:1:1), 160 px",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("work", type=Path)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--run", action="append", metavar="NAME=LABEL", help="a run folder under WORK (or its metrics file) and its row's label")
    ap.add_argument("--title", default="Ablation: what each source of fakes adds")
    ap.add_argument("--by", default="training/recipes/ablation.sh", help="the recipe named as the table's writer")
    args = ap.parse_args()
    runs = dict(r.split("=", 1) for r in args.run) if args.run else RUNS
    print(f"# {args.title} ({args.minutes:g} CPU minutes per run, 2 cores)\n")
    print("Validation split (held-out identities and DFDC originals; not the test split). Window AUC of each")
    print("kind of fake against the real faces it was made from; `select` is their mean, which picks the epoch.")
    print("An item is a real window and its fake twin: two windows seen.")
    print(f"Written by `{args.by}`.\n")
    print("| trained on | epochs | windows seen | DFDC pairs | self-blended | face swaps | select |")
    print("|---|---|---|---|---|---|---|")
    for name, what in runs.items():
        path = args.work / name
        path = path if path.suffix == ".json" else path / "metrics.json"
        if not path.is_file():
            print(f"| {what} | (not run) | | | | | |")
            continue
        history = json.loads(path.read_text())
        best = max(history, key=lambda r: r["val_select_auc"])
        seen = sum(r["train_windows"] for r in history)
        print(
            f"| {what} | {best['epoch']} of {len(history)} | {seen} | {best['val_fakes_auc']:.3f} | "
            f"{best['val_sbi_auc']:.3f} | {best['val_swap_auc']:.3f} | {best['val_select_auc']:.3f} |"
        )


if __name__ == "__main__":
    main()
