"""The preprocessing run: find the media, skip what is done, prepare the rest in parallel."""

from __future__ import annotations

import argparse
import multiprocessing as mp
from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from edge_model.crop import CropSpec
from edge_model.errors import DfdError
from edge_model.settings import PipelineSettings
from training.prepare import PrepareOptions, Preparer, init_worker, work
from training.sources import Item, apply_groups, discover, labelled_folder, read_groups, read_pairs
from training.store import Dataset


def collect(args: argparse.Namespace) -> list[Item]:
    items: list[Item] = []
    if args.data_dir is not None:
        items += discover(args.data_dir)
    for folder in args.real:
        items += labelled_folder(folder, 0)
    for folder in args.fake:
        items += labelled_folder(folder, 1)
    for csv_path in args.pairs:
        items += read_pairs(csv_path)
    if args.groups:
        items = apply_groups(items, read_groups(args.groups))
    unique = {it.video_id: it for it in items}
    if not unique:
        raise DfdError("no videos or photos found: give DATA_DIR with real_videos/ etc., --real/--fake folders or --pairs")
    return list(unique.values())


def preprocess(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    if args.size < 16 or args.margin < 1.0 or args.fps < 0 or args.workers < 1:
        raise DfdError("--size must be >= 16, --margin >= 1, --fps >= 0 and --workers >= 1")
    spec = CropSpec(size=args.size, margin=args.margin, align=not args.no_align)
    items = collect(args)
    out = Dataset(args.out)
    out.create(spec, {"fps": args.fps or None, "min_track": args.min_track})
    done = out.done_videos()
    pending = [it for it in items if it.video_id not in done]
    todo = pending[: args.limit] if args.limit else pending
    console.print(f"{len(items)} files found, {len(items) - len(pending)} already done, {len(todo)} to prepare now")
    opts = PrepareOptions(
        spec=spec,
        fps=args.fps or None,
        min_track=args.min_track,
        max_frames=args.max_frames,
        faces=PipelineSettings(range=args.detector_range, max_faces=args.max_faces),
        mesh=not args.no_mesh,
    )
    skipped: list[dict] = []
    counts: Counter = Counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("preprocess", total=len(todo))
        for result in _results(todo, str(args.out), opts, args.workers):
            if result.error:
                skipped.append({"video_id": result.video["video_id"], "name": result.video["name"], "error": result.error})
                console.print(f"[yellow]skipped[/] {result.error}")
            else:
                out.finish_video(result.video, result.records)
                counts["videos"] += 1
                counts["clips"] += len(result.records)
                counts["frames"] += result.video["frames"]
                counts["no_face"] += not result.records
            progress.advance(task)
    out.write_skipped(skipped)
    console.print(
        f"prepared {counts['videos']} files: {counts['clips']} face clips, {counts['frames']} faces; "
        f"{counts['no_face']} had no usable face; {len(skipped)} skipped"
    )
    for s in skipped:
        console.print(f"  skipped: {s['name']}: {s['error']}")
    return 0


def _results(todo: list[Item], root: str, opts: PrepareOptions, workers: int):
    if workers == 1 or len(todo) <= 1:
        prep = Preparer(Dataset(root), opts)
        yield from (prep(it) for it in todo)
        return
    ctx = mp.get_context("spawn")  # no onnxruntime state is shared with the children
    with ctx.Pool(workers, initializer=init_worker, initargs=(root, opts)) as pool:
        yield from pool.imap_unordered(work, todo, chunksize=1)

