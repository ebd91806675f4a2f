"""Score video files offline with the live alert rule: every face track, its alerts, and a verdict.

The verdict is `fake` exactly when `dfd watch` would have raised an alert on
the file, `real` when a track carried enough evidence and none alerted, and
`insufficient` when none did (see edge_model.scan). Give files or folders
(searched recursively for video files); `--jobs N` scans N at once. A file
whose decoding stops early (cut or corrupt) is still scored, and said to be
incomplete. A file that can't be read is named on stderr and the others go on.
Exit codes: 0 every file scanned (whatever the verdicts), 2 bad input or at
least one file that could not be read.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from edge_model.errors import DfdError
from edge_model.media import VIDEO_EXTS, Decoding, VideoError, read_frames, video_fps
from edge_model.pipeline import FacePipeline, build_pipeline
from edge_model.scan import ScanReport, scan_frames
from stream.commands.common import (
    add_config_arguments,
    config_from_args,
    output_console,
    positive_int,
    to_json,
)
from stream.config import Config

HELP = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, or folders to search for them")
    p.add_argument("--json", action="store_true", help="print one JSON object per file instead of a report")
    p.add_argument("--jobs", type=positive_int, default=1, metavar="N", help="scan N files at once (default 1)")
    p.add_argument("--every", type=positive_int, default=1, metavar="N", help="score every N-th frame (default 1)")
    p.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after N scored frames")
    add_config_arguments(p)


def find_videos(paths: list[str]) -> list[str]:
    """The files named, and the video files under each folder named (recursively, sorted)."""
    found: list[str] = []
    for p in paths:
        if Path(p).is_dir():
            found += sorted(str(f) for f in Path(p).rglob("*") if f.suffix.lower() in VIDEO_EXTS and f.is_file())
        else:
            found.append(p)  # a missing or bad file is reported when its turn comes
    if not found:
        raise DfdError(f"no video files ({', '.join(VIDEO_EXTS)}) in {', '.join(paths)}")
    return found


@dataclass
class FileScan:
    """One file's report, how far its decoding got, and how long it took."""

    report: ScanReport
    decoding: Decoding
    seconds: float

    def to_dict(self) -> dict:
        return {**self.report.to_dict(), **self.decoding.to_dict(), "seconds": round(self.seconds, 2)}


_loaded: list[FacePipeline] = []  # per process: the models, loaded once for every file


def scan_file(video: str, cfg: Config, every: int, max_frames: int | None) -> FileScan:
    """One file's scan; a VideoError when it can't be read at all."""
    if not _loaded:
        _loaded.append(build_pipeline(cfg.pipeline(), cfg.model.path or None))
    pipeline = _loaded[0].another()
    decoding = Decoding()
    start = time.perf_counter()
    # a config's stream.sample_fps samples the file as `dfd watch` samples a stream, so the two agree
    frames = read_frames(video, every=every, max_frames=max_frames, decoding=decoding, fps=cfg.stream.sample_fps or None)
    levels = cfg.policy.levels(pipeline.runner.manifest.threshold)
    report = scan_frames(frames, pipeline, levels, video_fps(video), video)
    return FileScan(report, decoding, time.perf_counter() - start)


def _scan_or_error(video: str, cfg: Config, every: int, max_frames: int | None) -> tuple[str, FileScan | str]:
    try:
        return video, scan_file(video, cfg, every, max_frames)
    except VideoError as exc:
        return video, str(exc)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    videos = find_videos(args.videos)
    if len(videos) == 1:  # one file: its errors are the command's, and no progress bar
        results = [(videos[0], scan_file(videos[0], cfg, args.every, args.max_frames))]
    else:
        results = _scan_many(videos, cfg, args)
    console = output_console()
    failed = [(v, r) for v, r in results if isinstance(r, str)]
    for video, scan in results:
        if isinstance(scan, str):
            continue
        if not scan.decoding.complete:
            print(f"dfd scan: {video}: decoding stopped early ({_decoded(scan.decoding)}): "
                  "the verdict covers the frames decoded", file=sys.stderr)
        if args.json:
            print(to_json(scan.to_dict()), flush=True)
        elif len(results) == 1:
            _print_report(scan, console)
    if not args.json and len(results) > 1:
        _print_summary(results, console)
    return 2 if failed else 0


def _scan_many(videos: list[str], cfg: Config, args: argparse.Namespace) -> list[tuple[str, FileScan | str]]:
    """Every file, on --jobs processes, with a progress bar on stderr; a bad file is said and counted."""
    results: list[tuple[str, FileScan | str]] = []
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("scan", total=len(videos))

        def done(video: str, report: FileScan | str) -> None:
            if isinstance(report, str):
                progress.console.print(f"dfd scan: error: {report}", soft_wrap=True, style=None, markup=False)
            results.append((video, report))
            progress.advance(task)

        if args.jobs == 1:
            for v in videos:
                done(*_scan_or_error(v, cfg, args.every, args.max_frames))
        else:
            with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_scan_or_error, v, cfg, args.every, args.max_frames) for v in videos]
                for f in futures:
                    done(*f.result())
    return results


def _decoded(d: Decoding) -> str:
    of = f" of {d.expected}" if d.expected else ""
    why = f"; {d.error}" if d.error else ""
    return f"{d.decoded}{of} frames decoded{why}"


def _print_summary(results: list[tuple[str, FileScan | str]], console: Console) -> None:
    table = Table("file", "verdict", "score", "frames", "complete", "tracks", title_justify="left")
    counts: dict[str, int] = {}
    for video, scan in results:
        if isinstance(scan, str):
            counts["failed"] = counts.get("failed", 0) + 1
            table.add_row(video, "[red]failed[/]", "-", "-", "-", "-")
            continue
        r = scan.report
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
        score = "-" if r.score is None else f"{r.score:.3f}"
        table.add_row(video, r.verdict, score, str(r.frames), "yes" if scan.decoding.complete else "[yellow]no[/]",
                      str(len(r.tracks)))
    console.print(table)
    console.print(f"{len(results)} files: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


def _print_report(scan: FileScan, console: Console) -> None:
    report, elapsed = scan.report, scan.seconds
    colour = {"fake": "bold red", "real": "bold green", "insufficient": "yellow"}[report.verdict]
    score = "-" if report.score is None else f"{report.score:.3f}"
    console.print(
        f"[bold]{report.video}[/]: [{colour}]{report.verdict.upper()}[/] "
        f"score {score} (threshold {report.threshold:.3f}, model {report.model})"
    )
    fps = report.frames / elapsed if elapsed > 0 else 0.0
    console.print(f"{report.frames} frames in {elapsed:.1f} s ({fps:.1f} fps), {len(report.tracks)} face tracks")
    if not scan.decoding.complete:
        console.print(f"[yellow]incomplete[/]: {_decoded(scan.decoding)}")
    if report.tracks:
        table = Table("track", "frames", "face", "decides", "score", "max window", "alerts")
        for t in report.tracks:
            table.add_row(
                str(t.id),
                f"{t.first_frame}-{t.last_frame}",
                f"{t.face_score:.2f}",
                "yes" if t.decides else "no",
                "-" if t.score is None else f"{t.score:.3f}",
                f"{max(w['p_fake'] for w in t.windows):.3f}",
                ", ".join(f"{a.start_s:.1f}-{a.end_s:.1f} s (peak {a.peak:.2f})" for a in t.alerts) or "-",
            )
        console.print(table)
