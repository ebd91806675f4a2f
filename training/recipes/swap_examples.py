"""Write a few cross-identity face swaps as mp4 files, for a person to look at.

Each file shows, side by side: the real face track, its swap at the clean,
medium and sloppy quality, and the donor face. A PNG of the middle frame
sits next to each file. The output is for eyes only: it stays out of git
(under /tmp by default).

    python training/recipes/swap_examples.py PREPARED_DATASET --out /tmp/dfd-swaps
    python training/recipes/swap_examples.py --real VIDEOS_DIR --donors PHOTOS_DIR --n 4

With --real/--donors the folders are first prepared (`dfd preprocess`) into
OUT/prepared/, once.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from edge_model.faceswap import QUALITY_LEVELS, sample_quality, swap_clip, yaw
from training.store import ClipRecord, Dataset
from training.swaps import DonorPool, usable_mesh

SCALE = 2  # crops are small; upscale for viewing


def prepare(folder: Path, out: Path, size: int, fps: float, max_frames: int, limit: int) -> Dataset:
    """`dfd preprocess` of at most `limit` files of a folder into `out` (done files are skipped)."""
    from training.commands.preprocess import add_arguments
    from training.preprocess import preprocess

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--real", str(folder), "--out", str(out), "--size", str(size), "--fps", str(fps)]
    argv += ["--max-frames", str(max_frames), "--min-track", "4", "--limit", str(limit)]
    preprocess(parser.parse_args(argv))
    return Dataset(out)


def targets(data: Dataset, n: int, rng: np.random.Generator) -> list[ClipRecord]:
    """`n` real video tracks with a mesh, longest first among a random draw of videos."""
    tracks = [r for r in data.records() if r.label == 0 and r.has_mesh and r.n_frames > 1]
    best: dict[str, ClipRecord] = {}
    for r in sorted(tracks, key=lambda r: -r.n_frames):
        best.setdefault(r.video_id, r)  # one track per video
    chosen = list(best.values())
    rng.shuffle(chosen)
    return chosen[:n]


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = cv2.resize(img, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_mp4(path: Path, frames_rgb: list[np.ndarray], fps: float) -> None:
    h, w = frames_rgb[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise SystemExit(f"cannot write {path}: OpenCV has no mp4 writer here")
    for f in frames_rgb:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", type=Path, help="a prepared dataset (targets and donors both from it)")
    p.add_argument("--real", type=Path, help="folder of real videos: the targets")
    p.add_argument("--donors", type=Path, help="folder of photos or videos of other people: the donors")
    p.add_argument("--out", type=Path, default=Path("/tmp/dfd-swap-examples"))
    p.add_argument("--n", type=int, default=4, help="how many target tracks")
    p.add_argument("--frames", type=int, default=40, help="frames per clip at most")
    p.add_argument("--size", type=int, default=160, help="crop size when preparing --real/--donors")
    p.add_argument("--fps", type=float, default=10.0, help="sampling rate when preparing, and the mp4's rate")
    p.add_argument("--max-donors", type=int, default=40, help="donor files to prepare at most")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if (args.data is None) == (args.real is None or args.donors is None):
        p.error("give a prepared dataset, or both --real and --donors")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.data is not None:
        real = donors = Dataset(args.data)
    else:
        prepared = args.out / "prepared"
        real = prepare(args.real, prepared / "real", args.size, args.fps, args.frames, args.n)
        donors = prepare(args.donors, prepared / "donors", args.size, args.fps, args.frames, args.max_donors)
    pool = DonorPool(donors, donors.records())
    rng = np.random.default_rng(args.seed)
    cv2.setNumThreads(1)  # one core, as a training worker has: CPU time is then the time on one core
    wall, cpu, swapped = 0.0, 0.0, 0
    for record in targets(real, args.n, rng):
        clip = real.load(record.clip)
        faces = np.asarray(clip.faces[: args.frames])
        meshes = usable_mesh(clip.mesh[: args.frames])
        donor = None if meshes is None else pool.pick(record.group, float(yaw(meshes).mean()), rng)
        if donor is None:
            print(f"{record.clip}: no mesh on every frame, or no donor of another identity; skipped")
            continue
        columns = [[label(f, "real") for f in faces]]
        for name, level in QUALITY_LEVELS.items():
            quality = sample_quality(rng, level)
            t0, c0 = time.perf_counter(), time.process_time()
            fake = swap_clip(faces, meshes, donor.face, donor.mesh, rng, quality)
            wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
            swapped += len(fake)
            columns.append([label(f, name) for f in fake])
        columns.append([label(donor.face, f"donor {donor.record.group[:14]}")] * len(faces))
        strip = [np.concatenate(row, 1) for row in zip(*columns)]
        stem = args.out / f"{record.clip}__{donor.record.clip}"
        write_mp4(stem.with_suffix(".mp4"), strip, args.fps)
        cv2.imwrite(str(stem.with_suffix(".png")), cv2.cvtColor(strip[len(strip) // 2], cv2.COLOR_RGB2BGR))
        print(f"wrote {stem}.mp4 ({len(faces)} frames)")
    if swapped:
        print(f"swap_clip: {1000 * cpu / swapped:.1f} ms of CPU a frame ({1000 * wall / swapped:.1f} ms wall clock)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
