"""The run time must fit a low-end box: importing it, building the whole `dfd` command line
(training and bench commands included) and `dfd watch --help` never load torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stream.cli import ORDER

HEAVY = ("torch", "torchvision")


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("package", ["edge_model", "stream"])
def test_runtime_packages_import_no_torch_and_no_training(package):
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('torch', 'torchvision', 'training'))\n"
        "print(','.join(bad))\n"
    )
    assert _fresh(code) == "", f"{package} imported {_fresh(code)}"


def test_the_full_cli_parser_loads_every_command_without_torch():
    """Every command, the entry-point ones (train, export, bench...) too, is imported to build the
    parser: a top-level `import torch` in any of them would fail here."""
    code = (
        "import sys\n"
        "from stream.cli import build_parser\n"
        "_, modules, _ = build_parser()\n"
        "print(','.join(modules))\n"
        f"print(','.join(sorted(n for n in sys.modules if n.split('.')[0] in {HEAVY!r})))\n"
    )
    commands, heavy = (_fresh(code) + "\n").split("\n")[:2]
    assert commands.split(",") == ORDER
    assert heavy == "", f"building the dfd parser imported {heavy}"


def test_dfd_watch_help_in_a_fresh_interpreter_loads_no_torch():
    """The installed `dfd` script itself, run as `dfd watch --help`; at exit it lists its modules.

    The full parser (every command) is built by the test above."""
    script = Path(sys.executable).with_name("dfd")
    assert script.is_file(), f"no dfd console script next to {sys.executable}: pip install -e ."
    code = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('MODULES', ','.join(sorted(sys.modules)), file=sys.stderr))\n"
        "sys.argv = ['dfd', 'watch', '--help']\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("usage: dfd watch")
    (listing,) = [line for line in out.stderr.splitlines() if line.startswith("MODULES ")]
    imported = set(listing.split(" ", 1)[1].split(","))
    assert "stream.commands.watch" in imported
    # `dfd watch` becomes the supervisor: it loads no other command, and no model run time
    assert not {"training.commands.train", "bench.command", "stream.commands.scan", "onnxruntime"} & imported
    heavy = sorted(n for n in imported if n.split(".")[0] in HEAVY)
    assert heavy == [], f"dfd watch --help imported {heavy}"
