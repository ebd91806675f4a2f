"""The `dfd` command, its help, and the config errors a user can make."""

from __future__ import annotations

import os
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


def dfd_in(cwd, *args: str, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], cwd=cwd, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def test_version():
    out = dfd("--version")
    assert out.returncode == 0 and out.stdout.startswith("dfd ")


@pytest.mark.parametrize("args, said", [
    (["watch", "--bogus"], "dfd watch: error: unrecognized arguments: --bogus"),
    (["watch", "--duratoin", "3"], "dfd watch: error: unrecognized arguments: --duratoin (did you mean --duration?)"),
    (["scan", "x.mp4", "--jsn"], "dfd scan: error: unrecognized arguments: --jsn (did you mean --json?)"),
    (["wach"], "dfd: error: unknown command 'wach' (did you mean watch?)"),
])
def test_usage_errors_name_the_subcommand_and_suggest(args, said):
    out = dfd(*args)
    assert out.returncode == 2 and out.stderr.startswith(said), out.stderr
    assert len(out.stderr.splitlines()) == 1


def test_an_unknown_config_key_gets_a_suggestion(tmp_path):
    (tmp_path / "site.toml").write_text("[stream]\nwrokers = 2\n")
    out = dfd("alerts", "--config", str(tmp_path / "site.toml"))
    assert out.returncode == 2
    assert out.stderr.strip() == "dfd alerts: error: config: stream.wrokers: unknown key (did you mean stream.workers?)" \
        or "stream.wrokers: unknown key (did you mean stream.workers?)" in out.stderr


@pytest.mark.parametrize("since", ["-1h", "-90s", "-1d", "-2.5m"])
def test_negative_relative_times_are_values_not_options(since, tmp_path):
    out = dfd_in(tmp_path, "alerts", "--since", since, "--until", "now", "--json")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_alerts_with_no_database_yet_is_an_empty_history(tmp_path):
    table = dfd_in(tmp_path, "alerts")
    assert table.returncode == 0 and "0 alerts in sqlite:///alerts.db" in table.stdout and "stream" in table.stdout
    assert dfd_in(tmp_path, "alerts", "--json").stdout.strip() == "[]"
    assert dfd_in(tmp_path, "alerts", "--csv").stdout.startswith("id,stream,track,")
    assert not (tmp_path / "alerts.db").exists()


@pytest.mark.parametrize("args", [["alerts", "--csv"], ["alerts", "--json"], ["alerts"], ["--help"], ["keys", "--out", "k"]])
def test_a_closed_pipe_ends_quietly(args, tmp_path):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: `dfd ... | head -0`
    try:
        out = dfd_in(tmp_path, *args, stdout=write)
    finally:
        os.close(write)
    assert out.stderr == ""  # no traceback
    assert out.returncode == (0 if args == ["--help"] else 141)  # argparse itself ignores a closed pipe


def test_piped_output_is_not_wrapped_at_80_columns(tmp_path):
    long_name = "a" * 150
    out = dfd_in(tmp_path, "alerts", "--alerts", f"sqlite:///{tmp_path / long_name}.db")
    assert out.returncode == 0 and f"{long_name}.db" in out.stdout
