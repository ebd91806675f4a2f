"""The alert recorder: `submit` never waits on a sink; a writer thread journals and delivers.

Path of every event: `submit` -> in-memory queue -> writer thread appends it to the spool
(fsynced) -> delivers the spool's front to the sink (the database, an MQTT broker, a webhook:
stream.alerts.sink) in batches -> drops what the sink took. While the sink is down, the spool
grows and the writer retries with exponential backoff; order is kept because the sink is only
ever fed from the spool's front.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stream.alerts.backends import open_store
from stream.alerts.errors import AlertStoreError, RecordRejected, StoreUnavailable
from stream.alerts.sink import Sink
from stream.alerts.spool import Spool
from stream.alerts.store import one_line
from stream.wire import AlertEvent

log = logging.getLogger("dfd.alerts")
IDLE_POLL_S = 0.2


@dataclass
class RecorderStatus:
    """What the console shows about the alert sink. Nothing here holds a password."""

    state: Literal["ok", "spooling", "down"]  # down: neither the database nor the spool takes writes
    spool_depth: int  # events not in the database yet (journaled, or held in memory)
    written: int  # events written to the database since start
    backend: str  # masked URL
    last_error: str = ""  # masked
    queued: int = 0  # submitted, not journaled yet
    rejected: int = 0  # events the database refused for their content (kept in <spool>.rejected)


class AlertRecorder:
    def __init__(
        self, store: Sink, spool: Spool, *, healthy: bool, last_error: str = "",
        batch_size: int = 256, retry_base_s: float = 0.5, retry_max_s: float = 30.0,
    ) -> None:
        self._store, self._spool, self._batch_size = store, spool, batch_size
        self._retry_base_s, self._retry_max_s = retry_base_s, retry_max_s
        self._queue: queue.SimpleQueue[AlertEvent | None] = queue.SimpleQueue()
        self._held: list[AlertEvent] = []  # events the spool could not take (disk full, ...)
        self._spool_ok, self._healthy, self._backoff_s = True, healthy, retry_base_s
        self._next_try = 0.0 if healthy else time.monotonic() + retry_base_s
        self._written = self._rejected = 0
        self._db_error = last_error  # why the database is not taking writes; "" while it is
        self._spool_error = ""  # why the spool is not taking appends; "" while it is
        self._stop, self._deadline, self._closed = threading.Event(), float("inf"), False
        self._thread = threading.Thread(target=self._run, name=f"dfd-writer {store.masked}", daemon=True)
        self._thread.start()

    # --- the API the supervisor uses ---------------------------------------------------

    def submit(self, event: AlertEvent) -> None:
        """Queue one event; returns at once."""
        if self._closed:
            raise RuntimeError("the alert recorder is closed")
        self._queue.put(event)

    def status(self) -> RecorderStatus:
        pending = self._spool.depth + len(self._held)
        if not self._thread.is_alive() and not self._closed:
            state = "down"
        elif self._healthy:
            state = "ok"
        else:
            state = "spooling" if self._spool_ok else "down"
        errors = "; ".join(e for e in (self._spool_error, self._db_error) if e)
        return RecorderStatus(
            state=state, spool_depth=pending, written=self._written, backend=self._store.masked,
            last_error=errors, queued=self._queue.qsize(), rejected=self._rejected,
        )

    def close(self, timeout: float = 5.0) -> None:
        """Flush what the database takes within `timeout`; the rest stays in the spool for the next start."""
        if self._closed:
            return
        self._closed, self._deadline = True, time.monotonic() + timeout
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            # The writer is stuck in a database call: journal what it has not, and leave it.
            log.warning("alerts: writer still busy with %s after %.1f s; leaving the rest in the spool",
                        self._store.masked, timeout)
            self._journal(self._drain_queue())
            return
        self._store.close()
        self._spool.close()

    # --- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                self._journal(self._take())
                if self._pending() and (self._healthy or time.monotonic() >= self._next_try):
                    self._write_front()
                elif not self._healthy and time.monotonic() >= self._next_try:
                    self._probe()
            except Exception as exc:  # keep writing: an unexpected error must not end the recorder
                log.exception("alerts: writer error")
                self._db_error = self._store.scrub(one_line(exc))
                time.sleep(IDLE_POLL_S)
            if self._stop.is_set() and self._queue.empty():
                if not self._pending() or not self._healthy or time.monotonic() >= self._deadline:
                    return

    def _pending(self) -> bool:
        return bool(self._spool.depth or self._held)

    def _take(self) -> list[AlertEvent]:
        """A batch from the queue: wait a little for the first event only when there is nothing to write."""
        idle = not self._pending() or not self._healthy
        wait = IDLE_POLL_S if idle and not self._stop.is_set() else 0.0
        if not self._healthy:
            wait = min(wait, max(0.0, self._next_try - time.monotonic()))
        batch: list[AlertEvent] = []
        try:
            first = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            batch = [first] if first is not None else []
        except queue.Empty:
            return batch
        return batch + self._drain_queue(self._batch_size - len(batch))

    def _drain_queue(self, limit: int | None = None) -> list[AlertEvent]:
        out: list[AlertEvent] = []
        while limit is None or len(out) < limit:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            if event is not None:
                out.append(event)
        return out

    def _journal(self, batch: list[AlertEvent]) -> None:
        """Append to the spool; if the spool fails, hold events in memory (behind any already held)."""
        self._held.extend(batch)
        if not self._held:
            return
        try:
            self._spool.append(self._held)
        except OSError as exc:
            if self._spool_ok:
                log.error("alerts spool %s: %s; holding events in memory", self._spool.path, exc)
            self._spool_ok = False
            self._spool_error = f"spool {self._spool.path}: {exc.strerror or exc}"
            return
        self._held.clear()
        self._spool_ok, self._spool_error = True, ""

    def _write_front(self) -> None:
        """Write one batch from the front of the journal (or of the held events when the journal is empty)."""
        from_spool = self._spool.depth > 0
        if from_spool:
            events, offset = self._spool.peek(self._batch_size)
        else:
            events, offset = self._held[: self._batch_size], 0
        if not events:
            return
        try:
            self._store.write(events)
        except RecordRejected:
            if not self._write_each(events):
                return
        except (StoreUnavailable, AlertStoreError) as exc:
            self._failed(exc)
            return
        else:
            self._written += len(events)
        if from_spool:
            self._spool.consume(offset, len(events))
        else:
            del self._held[: len(events)]
        self._recovered()

    def _write_each(self, events: list[AlertEvent]) -> bool:
        """A batch the database refused: write its events one by one and set the bad ones aside."""
        for event in events:
            try:
                self._store.write([event])
                self._written += 1
            except RecordRejected as exc:
                log.error("alerts: the database refused alert %s: %s", event.alert_id, exc)
                self._spool.reject(str(exc), event)
                self._rejected += 1
            except (StoreUnavailable, AlertStoreError) as exc:
                self._failed(exc)  # the batch stays in the journal; its written part replays as a no-op
                return False
        return True

    def _probe(self) -> None:
        try:
            self._store.connect()
        except (StoreUnavailable, AlertStoreError) as exc:
            self._failed(exc)
        else:
            self._recovered()

    def _failed(self, exc: Exception) -> None:
        self._store.close()
        self._db_error = self._store.scrub(str(exc))
        if self._healthy:
            log.warning("alerts: %s; spooling to %s", self._db_error, self._spool.path)
        else:
            self._backoff_s = min(self._backoff_s * 2, self._retry_max_s)
        self._healthy = False
        self._next_try = time.monotonic() + self._backoff_s

    def _recovered(self) -> None:
        if not self._healthy:
            log.warning("alerts: %s is back; replaying %d spooled events",
                        self._store.masked, self._spool.depth + len(self._held))
        self._healthy, self._db_error = True, ""
        self._backoff_s = self._retry_base_s


def open_recorder(url: str, spool_path: str | Path, password: str | None = None, *, timeout_s: float = 5.0,
                  **kw: Any) -> AlertRecorder:
    """Start recording alerts to `url`; events left in the spool by an earlier run are replayed first.

    Raises AlertStoreError (one masked line) for a malformed URL, an unknown scheme, bad credentials
    or an unknown database. An unreachable database is not an error: the recorder spools and retries.
    """
    return start_writer(open_store(url, password, timeout_s=timeout_s), spool_path, **kw)


def start_writer(sink: Sink, spool_path: str | Path, **kw: Any) -> AlertRecorder:
    """A writer for `sink` fed from its own spool (kw: AlertRecorder's); connects now, or spools and retries."""
    spool, healthy, last_error = Spool(spool_path), True, ""
    try:
        sink.connect()
    except StoreUnavailable as exc:
        healthy, last_error = False, str(exc)
        log.info("alerts: %s; spooling to %s until it is reachable", last_error, spool.path)  # the caller says it
    except AlertStoreError:
        spool.close()
        raise
    return AlertRecorder(sink, spool, healthy=healthy, last_error=last_error, **kw)
