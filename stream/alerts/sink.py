"""What the alert writer delivers to: the database, an MQTT broker, a webhook.

The writer (stream.alerts.recorder) journals every event first and hands a sink
batches from the journal's front; it drops a batch from the journal only once
`write` returns. So every sink gets the same no-loss, in-order delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

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


@dataclass
class RecorderStatus:
    """What the console shows about a sink's writer. Nothing here holds a password."""

    state: Literal["ok", "spooling", "down"]  # down: neither the database nor the spool takes writes
    spool_depth: int  # events in the spool, not delivered yet
    written: int  # events written to the database since start
    backend: str  # masked URL
    last_error: str = ""  # masked
    unsaved: int = 0  # events only in memory: the spool refused them (lost if the process dies)
    rejected: int = 0  # events the database refused for their content (kept in <spool>.rejected)
