"""Alert events as JSON POSTs to a URL, signed with HMAC-SHA256 when a secret is set.

Each POST carries one event (the body of stream.sinks.payload) and the headers
  X-Dfd-Event-Id   the event's identity: a retried event has the same one
  X-Dfd-Event      new, update or end
  X-Dfd-Signature  sha256=<hex HMAC-SHA256 of the body under the secret>, when one is set
Only a 2xx answer delivers the event; anything else (a redirect too) is retried
from the sink's spool with exponential backoff, so a receiver sees the events in order.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from stream.alerts.errors import RecordRejected, StoreUnavailable
from stream.secrets import SecretFilter, mask_url
from stream.sinks.payload import AlertStates
from stream.wire import AlertEvent

SIGNATURE_HEADER = "X-Dfd-Signature"


def signature(secret: str, body: bytes) -> str:
    """The X-Dfd-Signature value of `body`; a receiver recomputes it and compares in constant time."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirected POST would arrive as a GET without its body: retry it instead


class WebhookSink:
    def __init__(self, url: str, secret: str | None = None, timeout_s: float = 5.0) -> None:
        self.url, self.masked = url, f"webhook {mask_url(url)}"
        self._secret, self._timeout_s = secret, timeout_s
        self._secrets = SecretFilter([secret or ""])
        self._states = AlertStates()
        self._opener = urllib.request.build_opener(_NoRedirect)

    def connect(self) -> None:
        """Nothing to open: each event is its own request."""

    def close(self) -> None:
        """Nothing to close."""

    def scrub(self, text: str) -> str:
        return self._secrets(text)

    def write(self, events: Sequence[AlertEvent]) -> None:
        for d in self._states.deliveries(events):
            try:
                body = d.json()
            except ValueError as exc:
                raise RecordRejected(f"alert {d.event.alert_id}: {exc}") from None
            headers = {"Content-Type": "application/json", "User-Agent": "dfd-webhook",
                       "X-Dfd-Event-Id": d.event_id, "X-Dfd-Event": d.event.kind}
            if self._secret:
                headers[SIGNATURE_HEADER] = signature(self._secret, body)
            self._post(body, headers)
        self._states.commit()

    def _post(self, body: bytes, headers: dict[str, str]) -> None:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self._timeout_s) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            raise StoreUnavailable(f"{self.masked}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise StoreUnavailable(f"{self.masked}: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise StoreUnavailable(f"{self.masked}: {exc or type(exc).__name__}") from None
