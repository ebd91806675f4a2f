"""`dfd bench`: not built yet (issue #7)."""

from __future__ import annotations

import argparse
import sys

HELP = "bench: not built yet (issue #7)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rest", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    print("dfd bench: not built yet (issue #7)", file=sys.stderr)
    return 2
