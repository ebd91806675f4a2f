"""Every `dfd …` command line in the README parses as printed, and those that need no camera,
server or training data run (issue 13: the README's claims checked against the code)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from stream.cli import _glue_relative_values, _parse

README = Path(__file__).resolve().parent.parent / "README.md"
COMMANDS = {"watch", "scan", "alerts", "preprocess", "train", "evaluate", "export", "bench", "keys"}


def examples() -> list[str]:
    """`dfd` command lines in the README's code blocks (fenced or indented), without comments or redirections."""
    found: list[str] = []
    fenced = False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not (fenced or line.startswith("    ")):
            continue
        for part in line.split("&&"):
            words = shlex.split(part.strip(), comments=True) if part.strip().startswith("dfd ") else []
            cut = next((i for i, w in enumerate(words) if w in (">", "|")), len(words))
            words = words[:cut]
            if len(words) < 2 or words[1] not in COMMANDS:  # prose or a quoted error message
                continue
            if words:
                found.append(shlex.join(words))
    return found


def test_the_readme_has_examples_of_every_command():
    commands = {shlex.split(e)[1] for e in examples()}
    assert {"watch", "scan", "alerts", "preprocess", "train", "export", "evaluate", "keys"} <= commands


@pytest.mark.parametrize("example", examples())
def test_each_example_parses_as_printed(example):
    argv = _glue_relative_values(shlex.split(example)[1:])
    try:
        _parse(argv)
    except SystemExit as exc:
        pytest.fail(f"{example!r} is refused by the parser (exit {exc.code})")


def runnable(example: str) -> bool:
    """Runs here without a camera, a server, a model run or data: the alerts and keys examples."""
    words = shlex.split(example)
    return words[1] in ("alerts", "keys") and "show" not in words and "--config" not in words


@pytest.mark.parametrize("example", [e for e in examples() if runnable(e)])
def test_each_self_contained_example_runs(example, tmp_path):
    argv = [re.sub(r"^~", str(tmp_path), w) for w in shlex.split(example)[1:]]
    out = subprocess.run([sys.executable, "-m", "stream.cli", *argv], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_the_demo_example_runs_for_a_few_seconds(tmp_path):
    out = subprocess.run([sys.executable, "-m", "stream.cli", "watch", "--no-console", "--duration", "10"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"type":"summary"' in out.stdout.splitlines()[-1]
