"""A real RTSP server (GStreamer, started by the test): connect, lose it, reconnect."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from stream.sources import make_source
from stream.supervisor import Supervisor
from tests.test_watch import config, wait_for

SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gst_available() -> None:
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        ok = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30).returncode == 0
    except FileNotFoundError:
        ok = False
    if not ok:
        pytest.skip("needs GStreamer's RTSP server for the system python "
                    "(apt-get install gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi ...; see .ci/run)")


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([SYSTEM_PYTHON, str(SERVER), str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        pytest.fail(f"the RTSP server did not start: {line} {proc.stderr.read()}")
    return proc


def test_capture_reconnects_when_the_server_goes_and_comes_back(gst_available, tiny_model, tmp_path):
    port = free_port()
    server = start_server(port)
    cfg = config(tmp_path, tiny_model, **{
        "stream.stall_timeout_s": 3.0, "stream.reconnect_base_s": 0.2, "stream.reconnect_max_s": 1.0,
    })
    sup = Supervisor(cfg, [make_source(f"rtsp://127.0.0.1:{port}/test", "cam")])
    cam = sup.streams["cam"]
    try:
        sup.start()
        wait_for(sup, lambda: cam.state == "online" and cam.captured > 10 and cam.processed > 0)

        server.kill()
        server.wait()
        wait_for(sup, lambda: cam.state == "reconnecting")
        assert cam.reconnects >= 1
        assert all(p["alive"] for p in sup.stats()["processes"].values())

        server = start_server(port)
        captured, processed = cam.captured, cam.processed
        wait_for(sup, lambda: cam.state == "online" and cam.captured > captured + 10 and cam.processed > processed)
        worker = sup.stats()["processes"]["w0"]
        assert worker["alive"] and worker["restarts"] == 0

        # a server that hangs (connection open, no data) is a stall: the capture gives up on it
        server.send_signal(signal.SIGSTOP)
        capture = sup.processes.of_kind("capture")[0]
        wait_for(sup, lambda: cam.state == "reconnecting" or capture.restarts > 0)
        server.send_signal(signal.SIGCONT)
    finally:
        sup.stop()
        server.kill()
        server.wait()
