"""Score a video file offline with the live alert rule: every face track, its alerts, and a verdict.

The verdict is `fake` exactly when `dfd watch` would have raised an alert on
the file, `real` when a track carried enough evidence and none alerted, and
`insufficient` when none did (see edge_model.scan). Exit codes: 0 done
(whatever the verdict), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import time

from rich.console import Console
from rich.table import Table

from edge_model.detector import FaceDetector
from edge_model.pipeline import FacePipeline
from edge_model.runner import ModelRunner
from edge_model.scan import ScanReport, scan_frames
from edge_model.tracker import FaceTracker
from stream.commands.common import add_config_arguments, config_from_args, positive_int
from stream.video import iter_frames, video_fps

HELP = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", help="video file to score")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    p.add_argument("--every", type=positive_int, default=1, metavar="N", help="score every N-th frame (default 1)")
    p.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after N scored frames")
    add_config_arguments(p)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    runner = ModelRunner(cfg.model.path or None, cfg.model.threads, cfg.model.precision)
    detector = FaceDetector(cfg.detector.range, cfg.detector.min_score, cfg.detector.max_faces, cfg.model.threads)
    tracker = FaceTracker(cfg.tracker.iou, cfg.tracker.max_missed)
    pipeline = FacePipeline(runner, detector, tracker, cfg.detector.every)
    levels = cfg.policy.levels(runner.manifest.threshold)
    start = time.perf_counter()
    frames = iter_frames(args.video, args.every, args.max_frames)
    report = scan_frames(frames, pipeline, levels, video_fps(args.video), args.video)
    elapsed = time.perf_counter() - start
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        _print_report(report, elapsed)
    return 0


def _print_report(report: ScanReport, elapsed: float) -> None:
    console = Console()
    colour = {"fake": "bold red", "real": "bold green", "insufficient": "yellow"}[report.verdict]
    score = "-" if report.score is None else f"{report.score:.3f}"
    console.print(
        f"[bold]{report.video}[/]: [{colour}]{report.verdict.upper()}[/] "
        f"score {score} (threshold {report.threshold:.3f}, model {report.model})"
    )
    fps = report.frames / elapsed if elapsed > 0 else 0.0
    console.print(f"{report.frames} frames in {elapsed:.1f} s ({fps:.1f} fps), {len(report.tracks)} face tracks")
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
