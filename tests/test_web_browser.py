"""The web page in a real headless Chromium during `dfd watch --web`: the live view boxes the face
in red (the always-fake model scores it above the threshold), the alert is listed, its clip plays."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.net import free_port
from stream.web.live import RED
from tests.stream_clips import make_clip
from tests.test_alerts_contract import wait_until

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Chromium: apt-get install chromium")

PLAY = """async () => {
  const v = document.querySelector('#history video');
  await v.play();
  await new Promise((done) => { const t = () => v.currentTime > 0 ? done() : setTimeout(t, 50); t(); });
  return v.readyState;
}"""


def get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return resp.read()


def red_box(port: int) -> bool:
    try:
        image = cv2.imdecode(np.frombuffer(get(port, "/live/fake.jpg"), np.uint8), cv2.IMREAD_COLOR)
    except OSError:  # not serving yet, or no frame yet (404)
        return False
    return int((np.abs(image.astype(int) - RED).max(axis=2) < 40).sum()) > 100


def test_the_page_shows_the_red_box_and_the_alert_and_plays_its_clip(always_fake_model, tmp_path):
    clip = make_clip(tmp_path / "fake.mp4", seconds=2.0, size=(480, 360))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "watch", f"fake={clip}", "--loop", "--no-console", "--duration", "120",
         "--model", str(always_fake_model), "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}",
         "--evidence-dir", str(tmp_path / "evidence"), "--web", str(port)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        def alert_with_clip() -> bool:
            assert proc.poll() is None, proc.stderr.read()
            try:
                return any("clip" in a["urls"] for a in json.loads(get(port, "/api/alerts?stream=fake")))
            except OSError:
                return False

        wait_until(alert_with_clip, "an alert of stream fake with its clip in the history")
        wait_until(lambda: red_box(port), "a red face box in the live view")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page(viewport={"width": 1000, "height": 720})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.querySelector('#history video') !== null")
            page.wait_for_function("document.querySelector('img.live').naturalWidth > 0")
            assert "fake" in page.inner_text("#history") and "fake" in page.inner_text("#streams")
            assert page.evaluate(PLAY) >= 2  # HAVE_CURRENT_DATA: Chromium decoded the clip and it plays
            page.screenshot(path=str(tmp_path / "web.jpg"), full_page=True, type="jpeg", quality=70)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 143, proc.stderr.read()  # 128 + SIGTERM: stopped cleanly, by its contract
