"""The one flag per integration on `dfd watch`; each turns its config section on."""

from __future__ import annotations

import argparse
from typing import Any


def add_integration_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mqtt", metavar="HOST[:PORT]", nargs="?", const="",
                   help="publish alert events to this MQTT broker ([mqtt]; no value: mqtt.host, 127.0.0.1:1883)")
    p.add_argument("--webhook", metavar="URL", action="append",
                   help="POST each alert event to URL (repeatable; replaces webhooks.urls)")
    p.add_argument("--metrics", metavar="[HOST:]PORT", help="serve Prometheus /metrics there (default host 127.0.0.1)")
    p.add_argument("--web", metavar="[HOST:]PORT", help="serve the web page there ([web]; default host 127.0.0.1)")


def host_port(text: str) -> tuple[str, str]:
    """"h:1883" -> ("h", "1883"); "h" -> ("h", ""); "[::1]:9" -> ("::1", "9")."""
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port:
        host, port = text, ""
    return host.strip("[]"), port


def integration_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config overrides from the flags, validated with the file (a bad value: one line naming the key)."""
    out: dict[str, Any] = {}
    if args.mqtt is not None:
        host, port = host_port(args.mqtt)
        out.update({"mqtt.enabled": True, "mqtt.host": host or None, "mqtt.port": port or None})
    if args.webhook:
        out.update({"webhooks.enabled": True, "webhooks.urls": args.webhook})
    if args.metrics is not None:
        host, port = host_port(args.metrics) if ":" in args.metrics else ("", args.metrics)
        out.update({"metrics.enabled": True, "metrics.bind": host or None, "metrics.port": port})
    if args.web is not None:
        host, port = host_port(args.web) if ":" in args.web else ("", args.web)
        out.update({"web.enabled": True, "web.bind": host or None, "web.port": port})
    return out
