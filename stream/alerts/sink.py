"""What the alert writer delivers to: the database, an MQTT broker, a webhook.

The writer (stream.alerts.recorder) journals every event first and hands a sink
batches from the journal's front; it drops a batch from the journal only once
`write` returns. So every sink gets the same no-loss, in-order delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from stream.wire import AlertEvent


class Sink(Protocol):
    """Raises StoreUnavailable (retried with backoff), RecordRejected (set aside) or AlertStoreError."""

    @property
    def masked(self) -> str:
        """Where it delivers, fit to show: no password."""

    def connect(self) -> None:
        """Open the connection if it is not open."""

    def write(self, events: Sequence[AlertEvent]) -> None:
        """Deliver every event, in order, or raise; a replay of a delivered event must be harmless."""

    def close(self) -> None:
        """Drop the connection; `connect` opens it again."""

    def scrub(self, text: str) -> str:
        """Mask this sink's secrets in an error text."""
