"""`dfd web`: the alert history and its evidence in a browser, read from the alert database."""

from __future__ import annotations

import argparse
import sys
import threading

from stream.config import load_config
from stream.sinks.flags import host_port
from stream.web.server import open_web

HELP = """web: serve the alert history and its evidence as a web page (no live view; see dfd watch --web)

  dfd web                                          ./alerts.db and ./evidence on http://127.0.0.1:8080/
  dfd web --alerts mysql://dfd@db:3306/dfd --evidence-dir /srv/dfd/evidence --config site.toml
  DFD_WEB_TOKEN=... dfd web --bind 0.0.0.0:8080 --config site.toml   ([web] token_env = "DFD_WEB_TOKEN")

Anything but a loopback address needs a token: [web] token_env names the
environment variable that holds it; pages then need ?token=... (or
Authorization: Bearer ...). Evidence is served from the evidence folder only.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="TOML", help="config file; its [alerts] and [web] sections are used")
    p.add_argument("--alerts", dest="alerts_url", metavar="URL",
                   help="sqlite:///path.db (default ./alerts.db) or mysql://user@host:port/db")
    p.add_argument("--evidence-dir", metavar="DIR", help="the folder dfd watch saved evidence in (alerts.evidence_dir)")
    p.add_argument("--bind", metavar="[HOST:]PORT", help="where to listen (default web.bind:web.port, 127.0.0.1:8080)")


def run(args: argparse.Namespace) -> int:
    host, port = host_port(args.bind) if args.bind else (None, None)
    cfg = load_config(args.config, {
        "alerts.url": args.alerts_url, "alerts.evidence_dir": args.evidence_dir,
        "web.enabled": True, "web.bind": host, "web.port": port,
    })
    web = open_web(cfg, [], live=False)
    print(f"dfd web: serving {cfg.alerts.url} on {web.url} (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    finally:
        web.close()
    return 0
