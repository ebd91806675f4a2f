"""Alerts URLs, where the password goes, and the times `dfd alerts` accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.alerts import DEFAULT_URL, AlertStoreError, parse_url
from stream.commands.alerts import AlertsQueryError, parse_time


def test_sqlite_paths():
    assert parse_url(DEFAULT_URL).path == Path("alerts.db")
    assert parse_url("sqlite:///data/a b.db").path == Path("data/a b.db")
    assert parse_url("sqlite:////var/lib/dfd/alerts.db").path == Path("/var/lib/dfd/alerts.db")


def test_mysql_parts_and_masking():
    u = parse_url("mysql://dfd:p%40ss%2Fw0rd@db.example:3307/alerts")
    assert (u.user, u.host, u.port, u.database, u.password) == ("dfd", "db.example", 3307, "alerts", "p@ss/w0rd")
    assert u.masked == "mysql://dfd:***@db.example:3307/alerts"
    assert "p@ss" not in repr(u) and "p%40ss" not in repr(u)
    assert u.scrub("failed with p@ss/w0rd and p%40ss%2Fw0rd") == "failed with *** and ***"


def test_the_password_argument_wins_and_is_masked():
    u = parse_url("mysql://dfd@db/alerts", password="from-env")
    assert (u.password, u.port, u.masked) == ("from-env", 3306, "mysql://dfd:***@db:3306/alerts")
    assert parse_url("mariadb://dfd@db/alerts").scheme == "mysql"
    assert parse_url("mysql://dfd@db/alerts").masked == "mysql://dfd@db:3306/alerts"


@pytest.mark.parametrize("url", ["mysql://dfd:pw@db/alerts?ssl=1", "sqlite:///", "sqlite:///a.db?mode=ro"])
def test_options_and_empty_paths_are_refused(url):
    with pytest.raises(AlertStoreError) as exc:
        parse_url(url)
    assert ":pw@" not in str(exc.value)


def test_a_password_for_sqlite_is_refused_without_showing_it():
    with pytest.raises(AlertStoreError) as exc:
        parse_url("sqlite:///a.db", password="s3cr3t")
    assert "s3cr3t" not in str(exc.value)


def test_times():
    now = 1_800_000_000.0
    assert parse_time("-1h", now) == now - 3600
    assert parse_time("30m", now) == now - 1800
    assert parse_time("-2d", now) == now - 2 * 86400
    assert parse_time("now", now) == now
    assert parse_time("1700000000.5", now) == 1_700_000_000.5
    assert parse_time("2023-11-14T22:13:20+00:00", now) == 1_700_000_000.0
    assert parse_time("2023-11-14T22:13:20Z", now) == 1_700_000_000.0
    with pytest.raises(AlertsQueryError, match="--until 'yesterday': not a time"):
        parse_time("yesterday", now, flag="--until")
