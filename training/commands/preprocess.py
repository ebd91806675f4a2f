"""`dfd preprocess`: not built yet (issue #4)."""

from __future__ import annotations

import argparse
import sys

HELP = "preprocess: not built yet (issue #4)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rest", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    print("dfd preprocess: not built yet (issue #4)", file=sys.stderr)
    return 2
