"""`dfd scan`: not built yet (issue #3)."""

from __future__ import annotations

import argparse
import sys

HELP = "scan: not built yet (issue #3)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rest", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    print("dfd scan: not built yet (issue #3)", file=sys.stderr)
    return 2
