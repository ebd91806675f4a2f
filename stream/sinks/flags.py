"""The one flag per integration on `dfd watch`; each turns its config section on."""

from __future__ import annotations

import argparse
from typing import Any

from stream.transport import host_and_port


def add_integration_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mqtt", metavar="HOST[:PORT]", nargs="?", const="",
                   help="publish alert events to this MQTT broker ([mqtt]; no value: mqtt.host, 127.0.0.1:1883)")
    p.add_argument("--webhook", metavar="URL", action="append",
                   help="POST each alert event to URL (repeatable; replaces webhooks.urls)")
    p.add_argument("--metrics", metavar="[HOST:]PORT", help="serve Prometheus /metrics there (default host 127.0.0.1)")
    p.add_argument("--web", metavar="[HOST:]PORT", help="serve the web page there ([web]; default host 127.0.0.1)")


def host_port(text: str) -> tuple[str | None, int | None]:
    """HOST[:PORT] or [HOST:]PORT as the user writes it (h:1883, [::1]:9, ::1, h, or a bare port);
    None for what it leaves to the config."""
    if text.isdigit():
        return None, int(text)
    host, port = host_and_port(text, 0)
    return host, port or None


def integration_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config overrides from the flags, validated with the file (a bad value: one line naming the key)."""
    out: dict[str, Any] = {}
    if args.mqtt is not None:
        host, port = host_port(args.mqtt) if args.mqtt else (None, None)
        out.update({"mqtt.enabled": True, "mqtt.host": host, "mqtt.port": port})
    if args.webhook:
        out.update({"webhooks.enabled": True, "webhooks.urls": args.webhook})
    if args.metrics is not None:
        host, port = host_port(args.metrics)
        out.update({"metrics.enabled": True, "metrics.bind": host, "metrics.port": port})
    if args.web is not None:
        host, port = host_port(args.web)
        out.update({"web.enabled": True, "web.bind": host, "web.port": port})
    return out
