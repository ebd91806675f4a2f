"""Audit of secrets: a run whose camera URL and database URL carry passwords never shows them anywhere.

Two real `dfd watch` runs (JSON events, then the console), with alerts in
the MariaDB at 127.0.0.1:3306 under a user with a password that this test
creates and drops, and a camera whose RTSP URL has a password (nothing
listens there, so the capture reconnects and reports errors, the path where
a URL is most likely to be printed). Then `dfd alerts` reads them back, and
a run with a wrong database password fails. Everything any of it wrote is
searched: stdout, stderr, every file in the run's folder (evidence, spool,
rejected records), and every row of every table in the database.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.stream_clips import make_clip

pymysql = pytest.importorskip("pymysql")
pytestmark = pytest.mark.mysql

ROOT = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


def _root_sql(*statements: str, database: str | None = None) -> list[tuple]:
    conn = pymysql.connect(**ROOT, database=database, connect_timeout=5)
    try:
        rows: list[tuple] = []
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
                rows += list(cur.fetchall())
        conn.commit()
        return rows
    finally:
        conn.close()


@pytest.fixture
def db_user():
    """A database and a user with a password on the shared server, dropped afterwards."""
    try:
        _root_sql("SELECT 1")
    except pymysql.err.MySQLError as exc:
        pytest.skip(f"needs the MariaDB/MySQL server at 127.0.0.1:3306 as root without a password ({exc})")
    tag = secrets.token_hex(4)
    name = f"dfd_audit_{tag}"
    # Characters that must be percent-encoded in a URL, so both forms are searched for.
    password = f"Db#{secrets.token_hex(8)}!"
    _root_sql(
        f"CREATE DATABASE `{name}`",
        f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'",
        f"CREATE USER '{name}'@'localhost' IDENTIFIED BY '{password}'",
        f"GRANT ALL ON `{name}`.* TO '{name}'@'%'",
        f"GRANT ALL ON `{name}`.* TO '{name}'@'localhost'",
    )
    try:
        yield name, password
    finally:
        _root_sql(f"DROP DATABASE IF EXISTS `{name}`", f"DROP USER IF EXISTS '{name}'@'%'",
                  f"DROP USER IF EXISTS '{name}'@'localhost'")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dfd(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def _forms(secret: str) -> set[str]:
    """The secret as it could leak: plain, percent-encoded, and its random core alone."""
    return {secret, quote(secret, safe=""), re.search(r"[0-9a-f]{16}", secret).group()}


def test_no_password_appears_in_any_output_log_event_or_record(db_user, always_fake_model, tmp_path):
    db, db_password = db_user
    cam_password = f"Rtsp@{secrets.token_hex(8)}"
    leaks = _forms(db_password) | _forms(cam_password)
    clip = make_clip(tmp_path / "lobby.mp4", seconds=3.0)
    db_url = f"mysql://{db}:{quote(db_password, safe='')}@127.0.0.1:3306/{db}"
    cam_url = f"rtsp://viewer:{quote(cam_password, safe='')}@127.0.0.1:{_closed_port()}/stream1"
    common = ["--model", str(always_fake_model), "--evidence-dir", str(tmp_path / "evidence"), "--loop"]
    outputs: dict[str, str] = {}

    # 1. Passwords inside the URLs on the command line; events as JSON lines.
    run = _dfd("watch", f"lobby={clip}", f"door={cam_url}", "--alerts", db_url, "--no-console",
               "--duration", "10", *common, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    outputs |= {"json run stdout": run.stdout, "json run stderr": run.stderr}
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert any(e["type"] == "alert" and e["kind"] == "new" for e in events), "the run raised no alert to audit"
    assert any(e["type"] == "state" and e["stream"] == "door" and e["error"] for e in events), (
        "the camera never reported an error, so its URL was never at risk of being printed"
    )

    # 2. Passwords from the environment, named by the config; the console instead of JSON.
    config = tmp_path / "site.toml"
    config.write_text(
        "[alerts]\n"
        f'url = "mysql://{db}@127.0.0.1:3306/{db}"\n'
        'password_env = "AUDIT_DB_PASSWORD"\n'
        "[[sources]]\n"
        'name = "door"\n'
        f'url = "rtsp://viewer@127.0.0.1:{_closed_port()}/stream1"\n'
        'password_env = "AUDIT_CAM_PASSWORD"\n'
        "[[sources]]\n"
        'name = "lobby"\n'
        f'url = "{clip}"\n'
    )
    env = {"AUDIT_DB_PASSWORD": db_password, "AUDIT_CAM_PASSWORD": cam_password, "COLUMNS": "200"}
    run = _dfd("watch", "--config", str(config), "--duration", "8", *common, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    outputs |= {"console run stdout": run.stdout, "console run stderr": run.stderr}

    # 3. Reading the records back, with the password in the URL.
    listed = _dfd("alerts", "--alerts", db_url, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    alerts = json.loads(listed.stdout)
    assert alerts, "no alert reached the database"
    shown = _dfd("alerts", "show", alerts[0]["id"], "--alerts", db_url, cwd=tmp_path)
    outputs |= {"alerts --json": listed.stdout + listed.stderr, "alerts show": shown.stdout + shown.stderr}

    # 4. A password the server refuses: one line, and it is not that line.
    wrong = f"Db#{secrets.token_hex(8)}!"
    leaks |= _forms(wrong)
    refused = _dfd("watch", f"lobby={clip}", "--alerts", db_url.replace(quote(db_password, safe=""), quote(wrong, safe="")),
                   "--no-console", "--duration", "5", *common, cwd=tmp_path)
    assert refused.returncode == 2 and "access denied" in refused.stderr
    outputs |= {"refused run": refused.stdout + refused.stderr}

    assert "viewer:***@" in outputs["json run stderr"], "the camera URL was never printed, masked or not"
    for where, text in outputs.items():
        for leak in leaks:
            assert leak not in text, f"a password appears in the {where}"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jpg" for p in files), "no evidence was written to audit"
    for path in files:
        data = path.read_bytes()
        for leak in leaks:
            assert leak.encode() not in data, f"a password appears in {path.relative_to(tmp_path)}"
    tables = [row[0] for row in _root_sql("SHOW TABLES", database=db)]
    assert "alerts" in tables
    for table in tables:
        dump = repr(_root_sql(f"SELECT * FROM `{table}`", database=db))
        for leak in leaks:
            assert leak not in dump, f"a password appears in the database table {table}"
