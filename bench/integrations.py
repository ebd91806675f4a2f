"""Receivers for the capacity step with every integration on: a private Mosquitto and a webhook endpoint.

The integrations must never slow the inference path, so `dfd bench` measures
capacity with MQTT, a webhook, /metrics and the web page all on, against
receivers that take everything at once, beside the run without them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.net import free_port, listening

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_WAIT_S = 10.0


def available() -> bool:
    return Path(MOSQUITTO).exists()


class _Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def integration_flags() -> Iterator[tuple[str, ...]]:
    """`dfd watch` flags that turn on MQTT, a webhook, /metrics and the web page, with live receivers."""
    with tempfile.TemporaryDirectory(prefix="dfd-bench-mqtt-") as tmp:
        port = free_port()
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        broker = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        hooks = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
        threading.Thread(target=hooks.serve_forever, daemon=True).start()
        try:
            deadline = time.monotonic() + START_WAIT_S
            while not listening(port):
                if broker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start on port {port}")
                time.sleep(0.1)
            yield ("--mqtt", f"127.0.0.1:{port}", "--webhook", f"http://127.0.0.1:{hooks.server_port}/dfd",
                   "--metrics", str(free_port()), "--web", str(free_port()))
        finally:
            hooks.shutdown()
            broker.terminate()
            broker.wait(10)
