"""Turn folders of videos and photos into a dataset of face clips.

Reads `real_videos/`, `deepfake_videos/` and `real_images/` (or the
FaceForensics++ and DFDC layouts, or a `pairs.csv` of real/fake face crops)
under DATA_DIR, and any folders given with --real/--fake and CSVs given with
--pairs. Each video is decoded with PyAV at --fps, faces are detected
and tracked, and each track's faces are cropped with the run time's crop
function and stored with their keypoints (and face-mesh landmarks where the
mesh model is available). A finished video is skipped on the next run; a
video that can't be read is reported and skipped. A crop pair is cut with the
box found on its (padded) real crop, so both crops frame the face alike; a
pair with a missing, unreadable or faceless image is reported and skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", nargs="?", type=Path, help="folder with real_videos/, deepfake_videos/, real_images/, FF++ or DFDC")
    p.add_argument("--out", type=Path, required=True, help="dataset folder to create or resume")
    p.add_argument("--real", type=Path, action="append", default=[], help="another folder of real videos/photos")
    p.add_argument("--fake", type=Path, action="append", default=[], help="another folder of fake videos/photos")
    p.add_argument("--pairs", type=Path, action="append", default=[],
                   help="a CSV `fake,original` of real/fake face crops from the same frames (images in faces/ beside it)")
    p.add_argument("--groups", type=Path, help="CSV `name,group`: which identity each file shows")
    p.add_argument("--fps", type=float, default=10.0, help="frames sampled per second of video (0 = all)")
    p.add_argument("--size", type=int, default=160, help="stored crop size in pixels (>= the training size)")
    p.add_argument("--margin", type=float, default=1.2, help="crop side / face box side (the run time's margin)")
    p.add_argument("--no-align", action="store_true", help="don't rotate crops to level the eyes")
    p.add_argument("--min-track", type=int, default=8, help="drop face tracks shorter than this (frames)")
    p.add_argument("--max-frames", type=int, default=0, help="sampled frames per video at most (0 = all)")
    p.add_argument("--detector-range", choices=["auto", "short", "full"], default="auto")
    p.add_argument("--max-faces", type=int, default=4, help="faces per frame at most")
    p.add_argument("--no-mesh", action="store_true", help="don't store face-mesh landmarks")
    p.add_argument("--workers", type=int, default=1, help="parallel processes")
    p.add_argument("--limit", type=int, default=0, help="process at most this many new files (0 = all)")


def run(args: argparse.Namespace) -> int:
    from training.preprocess import preprocess

    return preprocess(args)
