"""Every kind of bad config value fails with exit 2 and one line that names the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stream.config import CONFIG_DIR, ConfigError, load_config
from stream.secrets import SecretFilter, mask_url, with_password


@pytest.mark.parametrize("name", ["default.toml", "low-end.toml", "rtsp-example.toml", "mysql-example.toml"])
def test_shipped_configs_are_valid(name):
    load_config(CONFIG_DIR / name)


@pytest.mark.parametrize(
    "toml, key, problem",
    [
        ("[stream]\nworkers = 'two'\n", "stream.workers", "valid integer"),
        ("[stream]\nworkers = 0\n", "stream.workers", "greater than or equal to 1"),
        ("[stream]\nsample_fps = -5\n", "stream.sample_fps", "greater than or equal to 0"),
        ("[stream]\nwrokers = 2\n", "stream.wrokers", "unknown key"),
        ("[nonsense]\nx = 1\n", "nonsense", "unknown key"),
        ("[detector]\nrange = 'far'\n", "detector.range", "'auto', 'short' or 'full'"),
        ("[model]\npath = '/no/such/model'\n", "model.path", "no such model folder"),
        ("[[sources]]\nname = 'a'\nurl = 'x.mp4'\n[[sources]]\nname = 'a'\nurl = 'y.mp4'\n", "sources", "duplicate"),
        ("[stream\n", "config", "not valid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path, toml, key, problem):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(key), msg
    assert problem in msg


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_cli_overrides_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[stream]\nworkers = 3\n[model]\nthreads = 2\n")
    cfg = load_config(path, {"stream.workers": 5, "model.threads": None})
    assert cfg.stream.workers == 5
    assert cfg.model.threads == 2


def test_bad_override_is_named_like_a_bad_file():
    with pytest.raises(ConfigError, match=r"^stream\.workers: .*got -1"):
        load_config(None, {"stream.workers": -1})


@pytest.mark.parametrize("command", ["watch", "scan"])
def test_cli_exits_2_with_one_line(tmp_path, command):
    path = tmp_path / "bad.toml"
    path.write_text("[stream]\nworkers = 'many'\n")
    out = subprocess.run(
        [sys.executable, "-m", "stream.cli", command, "--config", str(path), "x.mp4"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "stream.workers" in lines[0] and "Traceback" not in out.stderr


def test_secrets_are_masked():
    url = "rtsp://admin:hunter2@10.0.0.1/live"
    assert mask_url(f"opening {url} failed") == "opening rtsp://admin:***@10.0.0.1/live failed"
    assert with_password("mysql://root@db:3306/dfd", "s3:cr@t") == "mysql://root:s3%3Acr%40t@db:3306/dfd"
    f = SecretFilter(["s3:cr@t"])
    assert "s3" not in f("password is s3:cr@t and url mysql://root:s3%3Acr%40t@db/dfd")
