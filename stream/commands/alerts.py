"""`dfd alerts`: list recorded alerts as a table (or JSON/CSV), or show one with its events."""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from edge_model.errors import DfdError
from stream.alerts import AlertRecord, open_store
from stream.alerts.errors import NothingRecorded
from stream.alerts.records import EVIDENCE_KINDS
from stream.commands.common import output_console, to_json
from stream.config import load_config, secret_from_env

HELP = """alerts: list recorded alerts, or show one with its events and evidence

  dfd alerts                                 the 50 most recent alerts in ./alerts.db
  dfd alerts --stream door --since -1h       alerts on stream "door" active in the last hour
  dfd alerts --since 2026-11-26T08:00 --until 2026-11-26T18:00 --csv > day.csv
  dfd alerts show 3f2a9c1e                   one alert (its id or the start of it)
  dfd alerts --alerts mysql://dfd@db:3306/dfd --config site.toml   (password from [alerts] password_env)

Times are ISO 8601 (local time unless it names a zone), epoch seconds, or
relative to now: -90s, -30m, -1h, -2d, -1w. An alert is listed when it was
active at some time between --since and --until.
"""

_RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
CSV_FIELDS = ["id", "stream", "track", "state", "started", "ended", "started_at", "ended_at",
              "peak_score", "mean_score", "threshold", "model_id", "face_path", "frame_path",
              "clip_path", "details"]


class AlertsQueryError(DfdError):
    """A bad filter on the command line."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list",
                   help="list (default) or show one alert")
    p.add_argument("alert_id", nargs="?", metavar="ID", help="for show: the alert id or its first characters")
    p.add_argument("--config", metavar="TOML", help="config file; its [alerts] url and password_env are used")
    p.add_argument("--alerts", dest="alerts_url", metavar="URL",
                   help="sqlite:///path.db (default ./alerts.db) or mysql://user@host:port/db")
    p.add_argument("--stream", help="only alerts of this stream")
    p.add_argument("--since", metavar="TIME", help="only alerts active at or after TIME (e.g. -1h)")
    p.add_argument("--until", metavar="TIME", help="only alerts that started at or before TIME")
    p.add_argument("--limit", type=int, default=50, help="at most this many alerts, newest first (default 50)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fmt.add_argument("--csv", action="store_true", help="print CSV instead of a table")


def parse_time(text: str, now: float | None = None, *, flag: str = "--since") -> float:
    """Epoch seconds from ISO 8601, epoch seconds, 'now', or a relative time like -1h."""
    now = time.time() if now is None else now
    value = text.strip()
    if value == "now":
        return now
    rel = _RELATIVE.match(value)
    if rel:
        return now - float(rel[1]) * _UNITS[rel[2]]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()  # naive means local time
    except ValueError:
        raise AlertsQueryError(
            f"{flag} {text!r}: not a time; use ISO 8601 (2026-11-26T08:00), epoch seconds, or -30m / -1h / -2d"
        ) from None


def _iso(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def _local(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _as_dict(alert: AlertRecord, with_events: bool) -> dict[str, Any]:
    out = asdict(alert)
    out["started"], out["ended"] = _iso(alert.started_at), _iso(alert.ended_at)
    if not with_events:
        del out["events"]
    return out


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _duration(alert: AlertRecord) -> str:
    if alert.ended_at is None:
        return "open"
    return f"{alert.ended_at - alert.started_at:.1f} s"


def _print_table(alerts: list[AlertRecord], where: str, console: Console) -> None:
    """The table, with its header even when empty: an empty history is an answer, not an error."""
    table = Table(title=f"{len(alerts)} alerts in {where}", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("id", "stream", "track", "started", "duration", "peak", "mean", "face"):
        table.add_column(name, justify="right" if name in ("track", "peak", "mean") else "left",
                         no_wrap=name not in ("stream", "face"), overflow="fold", min_width=6)
    for a in alerts:
        table.add_row(a.id[:8], a.stream, str(a.track), _local(a.started_at), _duration(a),
                      _score(a.peak_score), _score(a.mean_score), a.evidence.get("face", ""),
                      style=None if a.ended_at else "bold")
    console.print(table)


def _print_alert(alert: AlertRecord, console: Console) -> None:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    for name, value in [
        ("id", alert.id), ("stream", alert.stream), ("track", str(alert.track)),
        ("state", alert.state), ("started", _iso(alert.started_at)), ("ended", _iso(alert.ended_at)),
        ("duration", _duration(alert)), ("peak score", _score(alert.peak_score)),
        ("mean score", _score(alert.mean_score)), ("threshold", _score(alert.threshold)),
        ("model", alert.model_id),
    ] + [(f"evidence: {k}", alert.evidence.get(k, "-")) for k in EVIDENCE_KINDS] + [
        ("details", to_json(alert.details) if alert.details else "-"),
    ]:
        head.add_row(name, value)
    console.print(head)
    events = Table(title="events", title_justify="left")
    for name in ("time", "kind", "score", "peak", "mean", "evidence"):
        events.add_column(name)
    for e in alert.events:
        events.add_row(_iso(e.ts), e.kind, _score(e.score), _score(e.peak_score), _score(e.mean_score),
                       ", ".join(f"{k}={v}" for k, v in e.evidence.items()))
    console.print(events)


def _print_csv(alerts: list[AlertRecord]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for a in alerts:
        row = {k: v for k, v in _as_dict(a, with_events=False).items() if k in CSV_FIELDS}
        row.update({f"{k}_path": a.evidence.get(k, "") for k in EVIDENCE_KINDS})
        row["details"] = to_json(a.details) if a.details else ""
        writer.writerow(row)


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise AlertsQueryError(f"--limit {args.limit}: must be at least 1")
    cfg = load_config(args.config, {"alerts.url": args.alerts_url})
    if args.action == "show":
        if not args.alert_id:
            raise AlertsQueryError("show needs an alert id: dfd alerts show ID")
        if args.csv:
            raise AlertsQueryError("show prints one alert; use --json, or --csv with the list")
    now = time.time()
    since = parse_time(args.since, now) if args.since else None
    until = parse_time(args.until, now, flag="--until") if args.until else None
    store = open_store(cfg.alerts.url, secret_from_env(cfg.alerts.password_env), must_exist=True)
    console = output_console()
    try:
        if args.action == "show":
            alert = store.get_alert(args.alert_id)
            if args.json:
                print(to_json(_as_dict(alert, with_events=True)))
            else:
                _print_alert(alert, console)
            return 0
        try:
            alerts = store.list_alerts(stream=args.stream, since=since, until=until, limit=args.limit)
        except NothingRecorded:
            alerts = []
    finally:
        store.close()
    if args.json:
        print(to_json([_as_dict(a, with_events=False) for a in alerts]))
    elif args.csv:
        _print_csv(alerts)
    else:
        _print_table(alerts, store.masked, console)
    return 0
