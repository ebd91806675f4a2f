"""The live console of `dfd watch` (rich): one row per stream, the latest alerts, the sink.

It only renders the supervisor's stats dict; it computes nothing of its own.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stream.messages import AlertEvent

BARS = "▁▂▃▄▅▆▇█"
STATE_STYLE = {"online": "green", "starting": "yellow", "reconnecting": "yellow", "offline": "red", "ended": "dim"}


def sparkline(values: list[float], threshold: float) -> Text:
    """Scores in [0, 1] as bars; bars at or above the threshold in red."""
    text = Text()
    for v in values:
        bar = BARS[min(len(BARS) - 1, max(0, int(v * len(BARS))))]
        text.append(bar, style="red" if v >= threshold else "green")
    return text


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def streams_table(stats: dict[str, Any]) -> Table:
    t = Table(expand=True, title=f"dfd watch · model {stats['model']} · threshold {stats['threshold']:.2f}")
    for col, justify in [
        ("stream", "left"), ("state", "left"), ("capture fps", "right"), ("processed fps", "right"),
        ("skipped fps", "right"), ("latency p50/p95 ms", "right"), ("faces", "right"), ("score", "right"),
        ("history", "left"), ("alerts", "right"),
    ]:
        t.add_column(col, justify=justify, no_wrap=True)
    for name, s in stats["streams"].items():
        state = Text(s["state"], style=STATE_STYLE.get(s["state"], ""))
        if s["reconnects"]:
            state.append(f" ({s['reconnects']})", style="dim")
        score = "-" if s["score"] is None else f"{s['score']:.2f}"
        score_style = "bold red" if s["score"] is not None and s["score"] >= stats["threshold"] else ""
        alerts = Text(str(s["alerts"]))
        if s["active_alerts"]:
            alerts = Text(f"{s['alerts']} ● {s['active_alerts']} open", style="bold red")
        t.add_row(
            name, state, f"{s['capture_fps']:.1f}", f"{s['process_fps']:.1f}", f"{s['skipped_fps']:.1f}",
            f"{_ms(s['latency_p50_ms'])}/{_ms(s['latency_p95_ms'])}", str(s["faces"]),
            Text(score, style=score_style), sparkline(s["history"], stats["threshold"]), alerts,
        )
    return t


def alerts_panel(alerts: list[AlertEvent], limit: int = 8) -> Panel:
    t = Table.grid(padding=(0, 2))
    for a in alerts[:limit]:
        when = datetime.fromtimestamp(a.ts).strftime("%H:%M:%S")
        style = {"new": "bold red", "update": "red", "end": "dim"}[a.kind]
        t.add_row(
            when, Text(a.kind, style=style), a.stream, f"track {a.track}", f"score {a.score:.2f}",
            f"peak {a.peak_score:.2f}", a.alert_id[:8], a.evidence.get("face", ""),
        )
    return Panel(t if alerts else Text("no alerts yet", style="dim"), title="latest alerts")


def footer(stats: dict[str, Any]) -> Text:
    sink = stats["sink"]
    text = Text(f"up {stats['uptime_s']:.0f} s · ")
    if sink:
        style = {"ok": "green", "spooling": "yellow", "down": "bold red"}.get(sink["state"], "")
        text.append(f"alerts → {sink['backend']} ")
        text.append(sink["state"], style=style)
        text.append(f" · spool {sink['spool_depth']} · written {sink['written']}")
        if sink["last_error"]:
            text.append(f" · {sink['last_error']}", style="yellow")
    restarts = sum(p["restarts"] for p in stats["processes"].values())
    text.append(f" · restarts {restarts} · rejected messages {stats['rejected']} · Ctrl-C to stop", style="dim")
    return text


def render(stats: dict[str, Any], alerts: list[AlertEvent]) -> Group:
    return Group(streams_table(stats), alerts_panel(alerts), footer(stats))


class LiveConsole:
    """Redraws at most `refresh_hz` times a second; notices print above the live area."""

    def __init__(self, refresh_hz: float, console: Console | None = None) -> None:
        self.console = console or Console()
        self.period = 1.0 / refresh_hz
        self._live = Live(console=self.console, auto_refresh=False, transient=False)
        self._last = 0.0

    def __enter__(self) -> LiveConsole:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def notice(self, line: str) -> None:
        self.console.print(Text(line, style="yellow"))

    def update(self, stats: dict[str, Any], alerts: list[AlertEvent], force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.period:
            self._last = now
            self._live.update(render(stats, alerts), refresh=True)
