"""Watch live video for deepfaked faces: webcams, RTSP/HTTP cameras and video files.

Sources: a webcam index (0) or /dev/videoN, rtsp:// or http(s):// URLs, video
files; name one with NAME=URL. With no source (and none in the config) the
built-in demo runs: two streams made from a public-domain portrait, one of
them with a face manipulation blended in for part of the time.

Examples:
  dfd watch                                   # the demo
  dfd watch door=rtsp://user@192.0.2.10/s1 0  # a camera and the first webcam
  dfd watch a.mp4 b.mp4 --no-console --duration 20
  dfd watch --config capture.toml cam.mp4    # tcp + CURVE keys (README; `dfd keys`); then, on another host:
  dfd watch --worker-only --connect CAPTURE_HOST --config worker.toml

Exit codes: 0 stopped by --duration or every file source ended; 130 Ctrl-C
(SIGINT); 143 SIGTERM; 1 no source ever produced a frame
(they failed or never connected); 2 bad input
(config, flags, no source can be opened); 3 every worker crashed past
stream.max_restarts (a service manager should restart the run); 141 the
reader of stdout went away.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
import types

import zmq

from edge_model.errors import DfdError
from edge_model.manifest import load_manifest, resolve_model_dir
from stream.commands.common import add_config_arguments, config_from_args, to_json
from stream.config import Config, secret_from_env
from stream.events import fetch_directory
from stream.keys import read_curve_settings
from stream.lifeline import private_files
from stream.logs import install_logging
from stream.secrets import SecretFilter
from stream.sinks.flags import add_integration_arguments, integration_overrides
from stream.sources import Source, SourceError, make_source, split_name
from stream.supervisor import Supervisor
from stream.transport import Security, host_and_port
from stream.wire import Message, to_dict
from stream.worker_spec import WorkerSettings, WorkerSpec, worker_main

HELP = __doc__
DEFAULT_PORT = 5570
DEMO_SOURCES = ["real=demo://real", "fake=demo://fake"]
EXIT_NO_FRAME = 1
EXIT_GAVE_UP = 3  # every worker crashed past its restart budget: a service manager should restart the run


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="[NAME=]webcam index, /dev/videoN, URL or file")
    p.add_argument("--no-console", action="store_true", help="print events as JSON lines on stdout")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"with --transport tcp: first of the tcp ports (default {DEFAULT_PORT}; uses PORT..PORT+1+streams)")
    p.add_argument("--worker-only", action="store_true",
                   help="run one inference worker for a `dfd watch --transport tcp` on another host")
    p.add_argument("--connect", metavar="HOST[:PORT]", help="with --worker-only: the capture host")
    add_config_arguments(p, live=True)
    add_integration_arguments(p)


def collect_sources(args: argparse.Namespace, cfg: Config, notice) -> list[Source]:
    """The sources to watch. A bad one gets one line and is left out; none left is an error."""
    taken: set[str] = set()
    good: list[Source] = []
    errors: list[str] = []
    if args.sources:
        wanted = [(*split_name(a), None) for a in args.sources]
    elif cfg.sources:
        wanted = [(s.name, s.url, s.password_env) for s in cfg.sources]
    else:
        wanted = [(*split_name(a), None) for a in DEMO_SOURCES]
    for name, url, password_env in wanted:
        try:
            good.append(make_source(url, name, secret_from_env(password_env or ""), taken))
        except SourceError as exc:
            errors.append(f"source {name}: {exc}" if name else str(exc))
    if not good and len(errors) == 1:
        raise SourceError(errors[0])
    for line in errors:
        notice(line)
    if not good:
        raise SourceError(f"none of the {len(errors)} sources can be opened")
    return good


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, integration_overrides(args))
    if args.duration is not None and args.duration <= 0:
        raise DfdError("--duration: must be > 0 seconds")
    if args.worker_only:
        return run_remote_worker(args, cfg)
    secrets = SecretFilter()

    def notice_stderr(line: str) -> None:
        print(f"dfd watch: {secrets(line)}", file=sys.stderr, flush=True)

    sources = collect_sources(args, cfg, notice_stderr)
    console_on = cfg.console.enabled and not args.no_console

    def emit_json(msg: Message) -> None:
        print(secrets(to_json(to_dict(msg))), flush=True)

    private_files()  # alerts.db, the spool and the evidence (faces) are the owner's only
    sup = Supervisor(cfg, sources, args.port, emit=None if console_on else emit_json, notice=notice_stderr)
    install_logging(lambda line: sup.notice(line))  # late-bound: the console replaces sup.notice
    signals = _StopOnSignals(sup)
    try:
        sup.start()
        if console_on:
            _watch_with_console(sup, args.duration, secrets)
        else:
            _watch_with_json(sup, args.duration, secrets)
    finally:
        sup.stop()  # idempotent: the console path stops first, to show the alerts' ends
        signals.restore()
    return _exit_code(sup, signals.received, notice_stderr)


def _watch_with_console(sup: Supervisor, duration: float | None, secrets: SecretFilter) -> None:
    from stream.console import LiveConsole, closing_summary

    with LiveConsole(sup.cfg.console.refresh_hz) as live:
        sup.notice = lambda line: live.notice(secrets(line))
        sup.run(duration, tick=lambda: live.update(sup.stats(), sup.alerts.rows()))
        sup.stop()  # the workers' last events end the open alerts: the last screen shows them ended
        live.update(sup.stats(), sup.alerts.rows(), force=True)
    live.console.print(closing_summary(sup.stats()))


def _watch_with_json(sup: Supervisor, duration: float | None, secrets: SecretFilter) -> None:
    last = time.monotonic()

    def every_second() -> None:
        nonlocal last
        if time.monotonic() - last >= 1.0:
            last = time.monotonic()
            print(secrets(to_json({"type": "streams", **sup.stats()})), flush=True)

    sup.run(duration, tick=every_second)
    sup.stop()
    print(secrets(to_json({"type": "summary", **sup.stats()})), flush=True)


def _exit_code(sup: Supervisor, signum: int | None, notice) -> int:
    """128 + the signal that stopped the run; 3 when every worker was given up; 1 when no source ever
    gave a frame; else 0.

    A run stopped (by --duration) while its sources were still starting has not failed yet.
    """
    if signum is not None:
        return 128 + signum
    if sup.processes.failed():
        notice("every worker stopped for good (see the lines above); exiting so that a service manager restarts dfd")
        return EXIT_GAVE_UP
    streams = sup.streams.values()
    if not any(st.came_online for st in streams) and not any(st.state == "starting" for st in streams):
        notice("no source produced a frame (see the lines above)")
        return EXIT_NO_FRAME
    return 0


class _StopOnSignals:
    """Ctrl-C or SIGTERM: leave the loop and stop cleanly, remembering which signal it was."""

    def __init__(self, sup: Supervisor) -> None:
        self.received: int | None = None

        def handler(signum: int, frame: types.FrameType | None) -> None:
            self.received = signum
            sup.stopping = True

        self._old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def run_remote_worker(args: argparse.Namespace, cfg: Config) -> int:
    """One worker in the foreground, fed over tcp by a supervisor on another host."""
    if not args.connect:
        raise DfdError("--worker-only needs --connect HOST[:PORT] (the host running `dfd watch --transport tcp`)")
    host, port = host_and_port(args.connect, args.port)
    s = cfg.stream
    curve = read_curve_settings(s.curve_secret_key, s.curve_authorized, s.curve_server_key)
    ctx = zmq.Context()
    try:  # a client only: its Security starts no gate
        endpoints, model_id = fetch_directory(ctx, host, port, Security(ctx, curve) if curve else None)
    except TimeoutError as exc:
        hint = " (or it refused this worker's key: see stream.curve_server_key and its curve_authorized)"
        raise DfdError(f"{exc}{hint if curve else ''}") from None
    finally:
        ctx.destroy(linger=0)
    print(f"dfd watch: worker for {', '.join(endpoints.frames)} at {host}:{port} (model there: {model_id})",
          file=sys.stderr, flush=True)
    name = f"{socket.gethostname()}-{os.getpid()}"  # unique even for several workers on one host
    # Only model.json's threshold, for the alert rule: the worker checks every file's sha256 as it loads them.
    manifest = load_manifest(resolve_model_dir(cfg.model.path or None), verify=False)
    settings = WorkerSettings.of(cfg, manifest.threshold)
    worker_main(WorkerSpec(name, endpoints.frames, endpoints.events, settings, None, supervised=False, curve=curve))
    return 0
