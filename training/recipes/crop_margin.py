"""How tight DFDC's face crops are against the crop contract: which margin fits them (issue 12).

For a sample of the real crops of a pairs CSV, BlazeFace runs on the crop padded by 0, 0.15 and
0.3 of its side (edge pixels replicated); for each margin it reports the share of the contract's
square crop that falls inside the original crop (the rest would be replicated padding).
Writes a Markdown table to stdout: `python training/recipes/crop_margin.py PAIRS_CSV > training/reports/crop_margin.md`
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edge_model.detector import FaceDetector
from edge_model.media import read_image
from training.prepare import pad_frame
from training.sources import read_pairs

MARGINS = (1.1, 1.2, 1.3, 1.5)
PADS = (0.0, 0.15, 0.3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    pairs = read_pairs(args.pairs)
    rng = np.random.default_rng(0)
    sample = [pairs[i] for i in rng.choice(len(pairs), min(args.n, len(pairs)), replace=False)]
    detector = FaceDetector(range="auto", max_faces=1, threads=1)
    print(f"# DFDC crops against the crop contract ({len(sample)} real crops of `{args.pairs.name}`)\n")
    print("Face box side / crop side from BlazeFace; 'inside' = median share of the contract's square crop")
    print("that lies inside the original crop at each margin (p10 in brackets).\n")
    print("| pad per side | faces found | box / crop side (median) | " + " | ".join(f"inside at margin {m}" for m in MARGINS) + " |")
    print("|---|---|---|" + "---|" * len(MARGINS))
    for pad in PADS:
        rel = []
        for pair in sample:
            image = read_image(pair.real)
            faces = detector.detect(pad_frame(image, pad) if pad else image)
            if faces:
                x1, y1, x2, y2 = faces[0].box
                rel.append(max(x2 - x1, y2 - y1) / image.shape[1])
        rel_a = np.asarray(rel)
        cells = []
        for m in MARGINS:
            inside = np.minimum(1.0, 1.0 / (m * rel_a)) ** 2
            cells.append(f"{np.median(inside):.2f} ({np.percentile(inside, 10):.2f})")
        print(f"| {pad:g} | {len(rel)}/{len(sample)} | {np.median(rel_a):.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
