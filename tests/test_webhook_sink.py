"""Webhooks against a real local HTTP server that fails the first attempts."""

from __future__ import annotations

import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stream.alerts.recorder import start_writer
from stream.config import ConfigError, load_config
from stream.sinks.integrations import open_integrations
from stream.sinks.webhook import WebhookSink, signature
from tests.test_alerts_contract import lifecycle, wait_until

SECRET = "hook-s3cret-42"


class Receiver:
    """An HTTP server that answers 500 to the first `fail` POSTs, then 204; it keeps what it took."""

    def __init__(self, fail: int = 0, status: int = 500) -> None:
        self.fail, self.status = fail, status
        self.attempts = 0
        self.took: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail:
                    self.send_response(receiver.status)
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                    self.end_headers()
                    return
                receiver.took.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver(fail=3)
    yield r
    r.close()


def test_retried_in_order_signed_and_never_twice(receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("DFD_HOOK_SECRET", SECRET)
    cfg = load_config(None, {"webhooks.enabled": True, "webhooks.urls": [receiver.url],
                             "webhooks.secret_env": "DFD_HOOK_SECRET", "alerts.spool": str(tmp_path / "a.spool")})
    hub = open_integrations(cfg, ["door"], "m")
    sent = lifecycle("door", updates=2) + lifecycle("hall", start=1_700_000_050.0)
    for e in sent:
        hub.on_message(e)
    wait_until(lambda: len(receiver.took) == len(sent), "every event at the receiver")
    # The receiver keeps an event before its answer reaches the sink, which counts it only then.
    wait_until(lambda: next(iter(hub.status().values()))["written"] == len(sent), "every answer counted")
    (name, status), = hub.status().items()
    assert name == f"webhook {receiver.url}" and status["state"] == "ok" and status["written"] == len(sent)
    hub.close()
    assert receiver.attempts == len(sent) + 3  # the three 500s were retried, nothing else was sent twice
    bodies = [json.loads(body) for _, body in receiver.took]
    assert [(b["after"]["id"], b["type"], b["after"]["score"]) for b in bodies] == \
        [(e.alert_id, e.kind, e.score) for e in sent]
    assert bodies[1]["before"] == bodies[0]["after"]
    for headers, body in receiver.took:
        assert hmac.compare_digest(headers["X-Dfd-Signature"], signature(SECRET, body))
        assert headers["X-Dfd-Event-Id"] == json.loads(body)["event_id"]
        assert headers["Content-Type"] == "application/json"
    assert len({h["X-Dfd-Event-Id"] for h, _ in receiver.took}) == len(sent)


def test_undelivered_events_wait_in_the_spool_for_the_next_start(tmp_path):
    """A receiver that is down past dfd's stop: the next start delivers the spooled events first."""
    down = Receiver(fail=10**6)
    spool = tmp_path / "a.spool.webhook"
    writer = start_writer(WebhookSink(down.url), spool, batch_size=1, retry_base_s=0.05, retry_max_s=0.2)
    first = lifecycle("door")
    for e in first:
        writer.submit(e)
    wait_until(lambda: writer.status().state == "spooling" and writer.status().spool_depth == len(first),
               "events spooled")
    assert "HTTP 500" in writer.status().last_error
    writer.close(timeout=0.5)
    down.close()

    up = Receiver()
    writer = start_writer(WebhookSink(up.url), spool, batch_size=1, retry_base_s=0.05, retry_max_s=0.2)
    second = lifecycle("hall", start=1_700_000_100.0)
    for e in second:
        writer.submit(e)
    wait_until(lambda: len(up.took) == len(first + second), "the spooled events, then the new ones")
    writer.close()
    up.close()
    assert len({json.loads(b)["event_id"] for _, b in up.took}) == len(first + second)
    assert [(json.loads(b)["after"]["id"], json.loads(b)["type"]) for _, b in up.took] == \
        [(e.alert_id, e.kind) for e in first + second]
    assert "X-Dfd-Signature" not in up.took[0][0]  # no secret, no signature
    assert spool.read_bytes() == b""


def test_a_redirect_is_not_a_delivery(tmp_path):
    """urllib would follow a 302 with a GET and no body; the sink retries the POST instead."""
    r = Receiver(fail=2, status=302)
    writer = start_writer(WebhookSink(r.url), tmp_path / "s", batch_size=1, retry_base_s=0.05, retry_max_s=0.2)
    e = lifecycle("door", updates=0, end=False)[0]
    writer.submit(e)
    wait_until(lambda: len(r.took) == 1, "the event, after two redirects")
    writer.close()
    r.close()
    assert r.attempts == 3 and json.loads(r.took[0][1])["after"]["id"] == e.alert_id


@pytest.mark.parametrize("url, problem", [
    ("ftp://example.org/x", "is not an http:// or https:// URL"),
    ("http://user:pw-in-url@/x", "is not an http:// or https:// URL"),
])
def test_bad_webhook_url_is_one_line(url, problem):
    with pytest.raises(ConfigError) as err:
        load_config(None, {"webhooks.enabled": True, "webhooks.urls": [url]})
    assert str(err.value).startswith("webhooks.urls: ") and problem in str(err.value)
    assert "pw-in-url" not in str(err.value)
