"""What the commands share: config flags, the one JSON style, and the stdout console."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from stream.config import Config, load_config

# Without a terminal, tables are laid out this wide and text is never hard-wrapped.
PIPE_WIDTH = 200

# flag dest -> dotted config key it overrides
OVERRIDES = {
    "model": "model.path",
    "threads": "model.threads",
    "precision": "model.precision",
    "detector_range": "detector.range",
    "detect_every": "detector.every",
    "workers": "stream.workers",
    "transport": "stream.transport",
    "bind": "stream.bind",
    "insecure_loopback": "stream.insecure_loopback",
    "loop": "stream.loop",
    "alerts_url": "alerts.url",
    "evidence_dir": "alerts.evidence_dir",
}


def positive_int(text: str) -> int:
    """An argparse type: argparse prints one usage line and exits 2 on anything else."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def add_config_arguments(p: argparse.ArgumentParser, *, live: bool = False) -> None:
    p.add_argument("--config", metavar="TOML", help="config file (default: built-in defaults)")
    p.add_argument("--model", metavar="DIR", help="model folder (default: the packaged model)")
    p.add_argument("--threads", type=int, help="onnxruntime threads per worker")
    p.add_argument("--precision", help="encoder precision: int8 or fp32")
    p.add_argument("--detector-range", dest="detector_range", help="auto, short or full")
    p.add_argument("--detect-every", dest="detect_every", type=int, help="detect every k-th frame")
    if live:
        p.add_argument("--workers", help="inference worker processes, or auto (default: one per core the captures leave, at most one per stream)")
        p.add_argument("--transport", help="ipc (one host) or tcp (workers on other hosts)")
        p.add_argument("--bind", help="address tcp:// endpoints bind to (default 127.0.0.1; IPv6: ::1)")
        p.add_argument("--insecure-loopback", dest="insecure_loopback", action="store_true", default=None,
                       help="--transport tcp on loopback without CURVE keys: lets every local user in")
        p.add_argument("--loop", action="store_true", default=None, help="loop file sources")
        p.add_argument("--alerts", dest="alerts_url", metavar="URL",
                       help="sqlite:///path.db (default ./alerts.db) or mysql://user@host:port/db")
        p.add_argument("--evidence-dir", dest="evidence_dir", metavar="DIR", help="where evidence is saved")


def config_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Config:
    overrides: dict[str, Any] = {
        key: getattr(args, dest) for dest, key in OVERRIDES.items() if getattr(args, dest, None) is not None
    }
    return load_config(args.config, {**overrides, **(extra or {})})


def to_json(value: Any) -> str:
    """The one JSON style of every command's output: compact, one line, so grep and jq see alike."""
    return json.dumps(value, separators=(",", ":"), default=str)


class _OutputConsole(Console):
    def on_broken_pipe(self) -> None:
        """rich would exit 1 here; `dfd`'s main ends every command the same quiet way instead."""
        raise BrokenPipeError


def output_console() -> Console:
    """A rich console on stdout. Piped to a file or a pager, lines are not hard-wrapped at 80."""
    if sys.stdout.isatty():
        return _OutputConsole()
    return _OutputConsole(width=PIPE_WIDTH, soft_wrap=True)
