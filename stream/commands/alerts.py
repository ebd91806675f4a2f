"""`dfd alerts`: not built yet (issue #6)."""

from __future__ import annotations

import argparse
import sys

HELP = "alerts: not built yet (issue #6)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rest", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    print("dfd alerts: not built yet (issue #6)", file=sys.stderr)
    return 2
