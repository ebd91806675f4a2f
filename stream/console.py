"""The live console of `dfd watch` (rich): one row per stream, one row per alert, the status.

It only renders the supervisor's stats dict and alert rows; it computes nothing
of its own. The layout follows the terminal's width: under WIDE columns a
compact table (stream, state, processed fps, latency p95, score, alerts), from
WIDE on every column, with the score history as wide as the rest leaves room
for. Every column keeps the width its content needs; only the stream name and
the evidence path give way (with an ellipsis), so no column shrinks to nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stream.board import AlertRow

BARS = "▁▂▃▄▅▆▇█"
STATE_STYLE = {"online": "green", "starting": "yellow", "reconnecting": "yellow", "offline": "red", "ended": "dim"}
WIDE = 100  # columns from which the full table is shown
MIN_WIDTH = 80  # the compact layout is made for this; narrower still shows names, states and scores
HISTORY = 24  # sparkline bars at most
MIN_HISTORY = 6  # narrower than this, the history column is left out
STREAM_MIN = 6  # the stream name keeps at least this many characters
STATE_W = 16  # "reconnecting (9)"
ALERTS_W = 10  # "12 ● 1 open"
GAP = 3  # between two columns: the box's divider and the padding on both sides


def sparkline(values: list[float], threshold: float) -> Text:
    """Scores in [0, 1] as bars; bars at or above the threshold in red."""
    text = Text()
    for v in values:
        bar = BARS[min(len(BARS) - 1, max(0, int(v * len(BARS))))]
        text.append(bar, style="red" if v >= threshold else "green")
    return text


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def _state(s: dict[str, Any]) -> Text:
    state = Text(s["state"], style=STATE_STYLE.get(s["state"], ""))
    if s["reconnects"]:
        state.append(f" ({s['reconnects']})", style="dim")
    return state


def _score(s: dict[str, Any], threshold: float) -> Text:
    if s["score"] is None:
        return Text("-")
    return Text(f"{s['score']:.2f}", style="bold red" if s["score"] >= threshold else "")


def _alerts(s: dict[str, Any]) -> Text:
    if s["active_alerts"]:
        return Text(f"{s['alerts']} ● {s['active_alerts']} open", style="bold red")
    return Text(str(s["alerts"]))


def _tail(text: str, width: int) -> str:
    """The end of a path when it is too long: the file name is what tells alerts apart."""
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _table(**kwargs: Any) -> Table:
    """A header rule and no frame: every column of the width goes to content."""
    return Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False, **kwargs)


@dataclass
class _Col:
    header: str
    width: int  # of the content and the header's longest line
    justify: str = "right"


def streams_table(stats: dict[str, Any], width: int = 200) -> Table:
    """The streams, laid out for `width` columns (see the module's docstring)."""
    streams = stats["streams"]
    longest = max((len(n) for n in streams), default=6)
    wide = width >= WIDE
    if wide:
        fixed = [
            _Col("state", STATE_W, "left"), _Col("capture\nfps", 7), _Col("processed\nfps", 9),
            _Col("dropped\nfps", 7), _Col("latency ms\np50/p95", 10), _Col("faces", 5), _Col("score", 5),
        ]
    else:
        fixed = [_Col("state", STATE_W, "left"), _Col("fps", 5), _Col("p95\nms", 5), _Col("score", 5)]
    fixed.append(_Col("alerts", ALERTS_W))
    used = sum(c.width + GAP for c in fixed)
    name_w = max(STREAM_MIN, min(max(longest, 6), width - used))
    history = min(HISTORY, width - used - name_w - GAP) if wide else 0
    title = f"dfd watch · model {stats['model']} · threshold {stats['threshold']:.2f}"
    if stats.get("sample_fps"):  # capture fps is then the frames handed on, not the source's rate
        title += f" · {stats['sample_fps']:g} fps scored per stream"
    t = _table(title=title, title_justify="left")
    t.add_column("stream", no_wrap=True, overflow="ellipsis", min_width=STREAM_MIN, max_width=name_w)
    for c in fixed[:-1]:
        t.add_column(c.header, justify=c.justify, no_wrap=True, min_width=c.width)  # type: ignore[arg-type]
    if history >= MIN_HISTORY:
        t.add_column("history", no_wrap=True, min_width=history, max_width=history)
    t.add_column(fixed[-1].header, justify="right", no_wrap=True, min_width=fixed[-1].width)
    threshold = stats["threshold"]
    for name, s in streams.items():
        if wide:
            numbers = [
                f"{s['capture_fps']:.1f}", f"{s['process_fps']:.1f}", f"{s['dropped_fps']:.1f}",
                f"{_ms(s['latency_p50_ms'])}/{_ms(s['latency_p95_ms'])}", str(s["faces"]),
            ]
        else:
            numbers = [f"{s['process_fps']:.1f}", _ms(s["latency_p95_ms"])]
        row: list[Any] = [name, _state(s), *numbers, _score(s, threshold)]
        if history >= MIN_HISTORY:
            row.append(sparkline(s["history"][-history:], threshold))
        t.add_row(*row, _alerts(s))
    return t


def alerts_panel(rows: list[AlertRow], width: int = 200, limit: int = 8) -> Panel:
    """One row per alert, open ones first: when it started, where, its state, its scores, its evidence."""
    shown = rows[:limit]
    opened = sum(r.state == "open" for r in rows)
    title = f"alerts · {opened} open · {len(rows)} in this run"
    if len(rows) > len(shown):
        title += f" · newest {len(shown)} shown"
    if not rows:
        return Panel(Text("no alerts yet", style="dim"), title=title, title_align="left")
    inner = width - 4  # the panel's border and padding
    name_w = max(STREAM_MIN, min(max(len(r.stream) for r in shown), 16))
    fixed = 8 + name_w + 5 + 5 + 4 + 5 + 6 * GAP  # started, stream, track, state, peak, score, and the gaps
    evidence_w = max(8, inner - fixed)
    t = _table()
    t.add_column("started", no_wrap=True, min_width=8)
    t.add_column("stream", no_wrap=True, overflow="ellipsis", max_width=name_w, min_width=STREAM_MIN)
    t.add_column("track", justify="right", no_wrap=True, min_width=5)
    t.add_column("state", no_wrap=True, min_width=5)
    t.add_column("peak", justify="right", no_wrap=True, min_width=4)
    t.add_column("score", justify="right", no_wrap=True, min_width=5)
    t.add_column("evidence", no_wrap=True, overflow="ellipsis", max_width=evidence_w)
    for r in shown:
        style = "bold red" if r.state == "open" else "dim"
        t.add_row(
            datetime.fromtimestamp(r.started_at).strftime("%H:%M:%S"), r.stream, str(r.track),
            Text(r.state, style=style), f"{r.peak:.2f}", f"{r.score:.2f}", _tail(r.evidence or "-", evidence_w),
        )
    return Panel(t, title=title, title_align="left")


def status(stats: dict[str, Any]) -> Text:
    """Where alerts go, the problems found at start, and the run's counters: short lines that wrap, never cut."""
    text = Text()
    sink = stats["sink"]
    if sink:
        style = {"ok": "green", "spooling": "yellow", "down": "bold red"}.get(sink["state"], "")
        text.append(f"alerts → {sink['backend']} ")
        text.append(sink["state"], style=style)
        text.append(f" · written {sink['written']} · spool {sink['spool_depth']}" + (f" · {sink['unsaved']} unsaved (only in memory)" if sink.get("unsaved") else ""))
        if sink["last_error"]:
            text.append(f" · {sink['last_error']}", style="yellow")
        text.append("\n")
    for problem in stats.get("problems", []):
        text.append(f"! {problem}\n", style="bold yellow")
    restarts = sum(p["restarts"] for p in stats["processes"].values())
    text.append(
        f"up {stats['uptime_s']:.0f} s · restarts {restarts} · rejected messages {stats['rejected']} · Ctrl-C to stop",
        style="dim",
    )
    return text


@dataclass
class Dashboard:
    """The whole screen; it lays itself out for the width and height rich gives it."""

    stats: dict[str, Any]
    alerts: list[AlertRow]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        table = streams_table(self.stats, width)
        foot = status(self.stats)
        # What is left of the screen goes to the alerts: the table, the panel's frame and
        # header, and the status lines come first.
        used = len(self.stats["streams"]) + 4 + 4 + len(foot.wrap(console, width))
        height = options.height or console.height
        limit = max(1, height - used - 1)
        yield table
        yield alerts_panel(self.alerts, width, limit)
        yield foot


def closing_summary(stats: dict[str, Any]) -> Group:
    """What a run did, printed when `watch` stops: per stream, the sources that never came online, where alerts went."""
    t = _table(title=f"dfd watch ran {stats['uptime_s']:.0f} s", title_justify="left")
    for col in ("stream", "frames", "processed", "dropped", "alerts", "state"):
        t.add_column(col, justify="left" if col in ("stream", "state") else "right", no_wrap=col != "stream")
    for name, s in stats["streams"].items():
        t.add_row(name, str(s["captured"]), str(s["processed"]), str(s["dropped"]), str(s["alerts"]), _state(s))
    lines = Text()
    never = [(n, s) for n, s in stats["streams"].items() if not s["came_online"]]
    if never:
        lines.append(f"never came online: {', '.join(n for n, _ in never)}\n", style="bold yellow")
        for name, s in never:
            if s["error"]:
                lines.append(f"  {name}: {s['error']}\n", style="yellow")
    sink = stats["sink"]
    total = sum(s["alerts"] for s in stats["streams"].values())
    if sink:
        lines.append(f"{total} alerts → {sink['backend']} ({sink['written']} events written")
        if sink["spool_depth"]:
            lines.append(f"; {sink['spool_depth']} wait in the spool for the database", style="yellow")
        lines.append(f"); evidence in {stats['evidence_dir']}/\n")
        lines.append("list them: dfd alerts", style="dim")
    return Group(t, lines)


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

    def update(self, stats: dict[str, Any], alerts: list[AlertRow], force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.period:
            self._last = now
            self._live.update(Dashboard(stats, alerts), refresh=True)
