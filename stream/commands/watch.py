"""`dfd watch`: not built yet (issue #5)."""

from __future__ import annotations

import argparse
import sys

HELP = "watch: not built yet (issue #5)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rest", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    print("dfd watch: not built yet (issue #5)", file=sys.stderr)
    return 2
