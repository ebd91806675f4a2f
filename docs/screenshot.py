"""Remake docs/web.jpg: the web page during the demo (`dfd watch --web`, both demo streams, the default model).

    python docs/screenshot.py          # needs the dev extra (playwright) and Chromium (apt-get install chromium)

It waits until the `fake` stream has an alert in the history, then screenshots the page in headless Chromium.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.net import free_port

OUT = Path(__file__).resolve().parent / "web.jpg"
WAIT_S = 180


def fake_alert(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/alerts?stream=fake", timeout=5) as r:
            return any("clip" in a["urls"] for a in json.loads(r.read()))
    except OSError:
        return False


def main() -> int:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "watch", "--no-console", "--web", str(port),
             "--alerts", f"sqlite:///{tmp}/alerts.db", "--evidence-dir", f"{tmp}/evidence"],
            cwd=tmp, stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + WAIT_S
            while not fake_alert(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    print("no alert on the fake demo stream in time", file=sys.stderr)
                    return 1
                time.sleep(1)
            time.sleep(3)  # a few more live frames with scores
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium)
                page = browser.new_page(viewport={"width": 1100, "height": 800})
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_function("[...document.querySelectorAll('img.live')].every(i => i.naturalWidth > 0)")
                page.wait_for_function("document.querySelector('#history video') !== null")
                page.screenshot(path=str(OUT), full_page=True, type="jpeg", quality=70)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
