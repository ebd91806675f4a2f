"""The web page's server with a real HTTP client: evidence only from its folder, the token off
loopback, the history's filters, the live view's boxes and the server-sent state."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_model.errors import DfdError
from stream.alerts import open_store
from stream.config import load_config
from stream.ring import FrameRing, RingSpec
from stream.web.live import GREEN, RED
from stream.web.server import WebServer, open_web
from stream.wire import FaceBoxes
from tests.test_alerts_contract import lifecycle

T0 = 1_700_000_000.0


def get(server: WebServer, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    """GET `path` exactly as written (no client-side normalisation of `..` or %-escapes)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())
    finally:
        conn.close()


@pytest.fixture
def site(tmp_path: Path) -> dict:
    """A database with alerts on two streams at known times, their evidence, and a secret next to it."""
    evidence = tmp_path / "evidence"
    (evidence / "door").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("not for the web")
    (evidence / "door" / "a-face.jpg").write_bytes(b"\xff\xd8face")
    (evidence / "door" / "a-clip.mp4").write_bytes(bytes(range(256)) * 4)
    (evidence / "door" / "escape.jpg").symlink_to(tmp_path / "secret.txt")
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    store = open_store(url)
    store.connect()
    door = lifecycle("door", start=T0, alert_id="a")
    door[0].evidence = {"face": str(evidence / "door" / "a-face.jpg"), "clip": "elsewhere/door/a-clip.mp4"}
    door[-1].evidence = {}
    store.write(door + lifecycle("yard", start=T0 + 3600) + lifecycle("door", start=T0 + 7200))
    store.close()
    return {"url": url, "evidence": evidence, "tmp": tmp_path}


def serve(site: dict, live: bool = False, **web: object) -> WebServer:
    overrides = {"alerts.url": site["url"], "alerts.evidence_dir": str(site["evidence"]),
                 "web.enabled": True, "web.port": 0, **{f"web.{k}": v for k, v in web.items()}}
    return open_web(load_config(None, overrides), ["door", "yard"], live=live)


def test_evidence_is_served_from_its_folder_only(site):
    server = serve(site)
    try:
        status, body, headers = get(server, "/evidence/door/a-face.jpg")
        assert (status, body, headers["Content-Type"]) == (200, b"\xff\xd8face", "image/jpeg")
        secret = site["tmp"] / "secret.txt"
        for path in ["/evidence/../secret.txt", "/evidence/%2e%2e/secret.txt", "/evidence/..%2fsecret.txt",
                     "/evidence/%2E%2E%2Fsecret.txt", "/evidence/door/../../secret.txt",
                     f"/evidence/{secret}", f"/evidence//{secret}", "/evidence/door/escape.jpg",
                     "/evidence/door/%00.jpg", "/evidence/", "/evidence/door", "/../secret.txt"]:
            status, body, _ = get(server, path)
            assert status == 404 and b"not for the web" not in body, path
    finally:
        server.close()


def test_a_clip_is_served_in_byte_ranges(site):
    server = serve(site)
    clip = (site["evidence"] / "door" / "a-clip.mp4").read_bytes()
    try:
        status, body, headers = get(server, "/evidence/door/a-clip.mp4", {"Range": "bytes=1000-"})
        assert (status, body, headers["Content-Range"]) == (206, clip[1000:], f"bytes 1000-1023/{len(clip)}")
        status, body, _ = get(server, "/evidence/door/a-clip.mp4", {"Range": "bytes=-4"})
        assert (status, body) == (206, clip[-4:])
        assert get(server, "/evidence/door/a-clip.mp4", {"Range": "bytes=5000-"})[0] == 416
        status, body, headers = get(server, "/evidence/door/a-clip.mp4")
        assert (status, body, headers["Accept-Ranges"], headers["Content-Type"]) == (200, clip, "bytes", "video/mp4")
    finally:
        server.close()


def test_off_loopback_a_token_is_required(site, monkeypatch):
    with pytest.raises(DfdError, match="web.token_env"):
        serve(site, bind="0.0.0.0")
    monkeypatch.setenv("DFD_TEST_WEB_TOKEN", "s3cret")
    server = serve(site, bind="0.0.0.0", token_env="DFD_TEST_WEB_TOKEN")
    try:
        for path in ["/", "/api/alerts", "/api/state", "/evidence/door/a-face.jpg"]:
            assert get(server, path)[0] == 401, path
            assert get(server, path + "?token=wrong")[0] == 401, path
            assert get(server, path, {"Authorization": "Bearer wrong"})[0] == 401, path
            assert get(server, path + "?token=s3cret")[0] == 200, path
            assert get(server, path, {"Authorization": "Bearer s3cret"})[0] == 200, path
    finally:
        server.close()


def history(server: WebServer, query: str) -> list[dict]:
    status, body, _ = get(server, "/api/alerts?" + query)
    assert status == 200, body
    return json.loads(body)


def test_the_history_filters_by_stream_and_time(site):
    server = serve(site)
    try:
        every = history(server, "")
        assert [(a["stream"], a["started_at"]) for a in every] == [("door", T0 + 7200), ("yard", T0 + 3600), ("door", T0)]
        assert [a["started_at"] for a in history(server, "stream=door")] == [T0 + 7200, T0]
        assert [a["stream"] for a in history(server, f"since={T0 + 1800}&until={T0 + 5400}")] == ["yard"]
        assert [a["started_at"] for a in history(server, f"stream=door&until={T0 + 1800}")] == [T0]
        assert history(server, "stream=attic") == []
        # evidence links: under the folder as recorded, or found there by <stream>/<file> (a moved run)
        assert every[-1]["urls"] == {"face": "/evidence/door/a-face.jpg", "clip": "/evidence/door/a-clip.mp4"}
        assert every[0]["urls"] == {}  # recorded, but not in this folder
        status, body, _ = get(server, "/api/alerts?since=yesterday")
        assert status == 400 and "not a time" in json.loads(body)["error"]
    finally:
        server.close()


def test_the_live_view_boxes_faces_by_score_and_pages_hear_of_alerts(site):
    spec = RingSpec("dfd-test-web-live", 2, 160, 120)
    ring = FrameRing.create(spec)
    server = serve(site, live=True)
    try:
        assert get(server, "/live/door.jpg")[0] == 404  # no ring handed over yet
        server.show_rings({"door": spec})
        assert get(server, "/live/door.jpg")[0] == 404  # no frame yet
        ring.write(np.zeros((120, 160, 3), np.uint8), T0)
        server.update({"threshold": 0.5, "streams": {}})
        server.on_message(FaceBoxes("door", 0, T0, [(10.0, 10.0, 60.0, 60.0, 1, 0.9), (90.0, 20.0, 150.0, 100.0, 2, 0.1)]))
        status, body, _ = get(server, "/live/door.jpg")
        assert status == 200
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (120, 160, 3)
        for (x, y), colour in [((10, 35), RED), ((90, 60), GREEN)]:  # a point on each box's left edge
            assert np.abs(image[y, x].astype(int) - colour).max() < 60, (x, y, image[y, x])
        assert get(server, "/live/yard.jpg")[0] == 404

        server.on_message(lifecycle("door", start=T0, end=False, updates=0)[0])
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/api/events")
        resp = conn.getresponse()
        assert resp.getheader("Content-Type") == "text/event-stream"
        line = resp.fp.readline()
        state = json.loads(line.removeprefix(b"data: "))
        assert [(a["stream"], a["state"]) for a in state["open"]] == [("door", "open")]
        assert state["live"] == ["door"] and state["alert_events"] == 1
        conn.close()
    finally:
        server.close()
        ring.close()
        ring.unlink()


def test_on_loopback_a_page_under_another_host_name_is_refused(site):
    """DNS rebinding: a web site whose name now points at 127.0.0.1 must not read the cameras."""
    server = serve(site)
    try:
        assert get(server, "/api/state", {"Host": "evil.example:8080"})[0] == 403
        assert get(server, "/live/door.jpg", {"Host": "evil.example"})[0] == 403
        assert get(server, "/api/state", {"Host": "localhost:8080"})[0] == 200
        assert get(server, "/api/state")[0] == 200  # http.client says 127.0.0.1:<port>
        assert get(server, "/evidence/" + "a" * 300)[0] == 404  # a name too long is not found, not a crash
    finally:
        server.close()
