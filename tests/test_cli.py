"""The `dfd` command, its help, and the config errors a user can make."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stream.cli import main

SUBCOMMANDS = ["watch", "scan", "preprocess", "train", "evaluate", "export", "bench", "alerts"]


def dfd(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_help_lists_every_subcommand():
    out = dfd("--help")
    assert out.returncode == 0
    for name in SUBCOMMANDS:
        assert f"    {name}" in out.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: dfd " + name in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
