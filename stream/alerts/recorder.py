"""The alert recorder: `submit` journals on the caller's side; a writer thread delivers from the journal.

`submit` appends the event to the spool, fsynced, before it returns (stream.alerts.journal); the
writer delivers the spool's front to the sink (the database, an MQTT broker, a webhook:
stream.alerts.sink) in batches and drops what the sink took. The writer only reads the spool, so a
hung database holds up no event; it retries with exponential backoff, in order. Events the spool
refused (a full disk) are held in memory and delivered after it; at close, how many of those were
lost is said in one line. For the database, the writer also ends the alerts a dead run left open
(stream.alerts.interrupted), once the spool that run left is replayed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stream.alerts.backends import open_store
from stream.alerts.errors import AlertStoreError, RecordRejected, StoreUnavailable
from stream.alerts.interrupted import left_open_end
from stream.alerts.journal import Journal
from stream.alerts.sink import RecorderStatus, Sink
from stream.alerts.spool import Spool
from stream.alerts.store import one_line
from stream.wire import AlertEvent

log = logging.getLogger("dfd.alerts")
IDLE_POLL_S = 0.2
OVERDUE_S = 2.0  # a write or connect taking longer than this: the sink is not "ok" any more

# Given the time this run started, the end events for what an earlier run left open.
Reconcile = Callable[[float], list[AlertEvent]]


class AlertRecorder:
    def __init__(
        self, store: Sink, spool: Spool, *, healthy: bool, last_error: str = "", reconcile: Reconcile | None = None,
        batch_size: int = 256, retry_base_s: float = 0.5, retry_max_s: float = 30.0,
    ) -> None:
        self._store, self._spool, self._batch_size = store, spool, batch_size
        self._retry_base_s, self._retry_max_s = retry_base_s, retry_max_s
        self._wake = threading.Event()
        self._journal = Journal(spool, self._wake)
        self._healthy, self._backoff_s = healthy, retry_base_s
        self._next_try = 0.0 if healthy else time.monotonic() + retry_base_s
        self._written = self._rejected = 0
        self._db_error = last_error  # why the database is not taking writes; "" while it is
        self._busy_since: float | None = None  # a sink call in flight since (monotonic)
        self._reconcile, self._started = reconcile, time.time()
        self._backlog = spool.depth  # events an earlier run left: replayed before reconciling
        self._stop, self._deadline, self._closed = threading.Event(), float("inf"), False
        self._thread = threading.Thread(target=self._run, name=f"dfd-writer {store.masked}", daemon=True)
        self._thread.start()

    # --- the API the supervisor uses ---------------------------------------------------

    def submit(self, event: AlertEvent) -> None:
        """Journal one event (fsynced; held in memory if the spool fails). Never waits on the sink."""
        if self._closed:
            raise RuntimeError("the alert recorder is closed")
        self._journal.submit(event)

    def status(self) -> RecorderStatus:
        errors = [self._journal.error, self._db_error]
        busy = self._busy_since
        overdue = busy is not None and time.monotonic() - busy > OVERDUE_S
        if overdue and not self._db_error:
            errors.append(f"{self._store.masked}: no answer for {time.monotonic() - busy:.0f} s")
        if not self._thread.is_alive() and not self._closed:
            state = "down"
        elif self._healthy and not overdue:
            state = "ok"
        else:
            state = "down" if self._journal.error else "spooling"
        return RecorderStatus(
            state=state, spool_depth=self._spool.depth, written=self._written, backend=self._store.masked,
            last_error="; ".join(e for e in errors if e), unsaved=self._journal.unsaved, rejected=self._rejected,
        )

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what the sink takes within `timeout`; the rest stays in the spool for the next start."""
        if self._closed:
            return
        self._closed, self._deadline = True, time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        lost = self._journal.close()
        if lost:
            log.error("alerts: %d alert events could not be saved (%s) and are lost", lost, self._journal.error)
        if self._thread.is_alive():  # stuck in a sink call: the rest is in the spool; leave it
            log.warning("alerts: writer still busy with %s after %.1f s; leaving the rest in the spool",
                        self._store.masked, timeout)
            return
        self._store.close()
        self._spool.close()

    # --- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.clear()
            now = time.monotonic()
            try:
                if self._pending() and (self._healthy or now >= self._next_try):
                    self._write_front()
                elif not self._healthy and now >= self._next_try:
                    self._probe()
                elif self._reconcile is not None and self._healthy and self._backlog <= 0:
                    self._end_left_open()
                elif not self._stop.is_set():
                    wait = IDLE_POLL_S if self._healthy else min(IDLE_POLL_S, self._next_try - now)
                    self._wake.wait(max(wait, 0.0))
            except Exception as exc:  # keep writing: an unexpected error must not end the recorder
                log.exception("alerts: writer error")
                self._db_error = self._store.scrub(one_line(exc))
                time.sleep(IDLE_POLL_S)
            if self._stop.is_set():
                if not self._pending() or not self._healthy or time.monotonic() >= self._deadline:
                    return

    def _pending(self) -> int:
        return self._spool.depth + self._journal.unsaved

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A sink call, timed: a hung database must not look "ok"."""
        self._busy_since = time.monotonic()
        try:
            return fn(*args)
        finally:
            self._busy_since = None

    def _write_front(self) -> None:
        """Write one batch from the front of the spool (or of the held events when the spool is empty)."""
        waiting = self._pending()
        from_spool = self._spool.depth > 0
        if from_spool:
            events, offset = self._spool.peek(self._batch_size)
        else:
            events, offset = self._journal.front(self._batch_size), 0
        if not events:
            return
        try:
            self._call(self._store.write, events)
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
            self._backlog = min(self._backlog - len(events), self._spool.depth)
        else:
            self._journal.drop(events)
        self._recovered(waiting)

    def _write_each(self, events: list[AlertEvent]) -> bool:
        """A batch the database refused: write its events one by one and set the bad ones aside."""
        for event in events:
            try:
                self._call(self._store.write, [event])
                self._written += 1
            except RecordRejected as exc:
                log.error("alerts: the database refused alert %s: %s", event.alert_id, exc)
                self._spool.reject(str(exc), event)
                self._rejected += 1
            except (StoreUnavailable, AlertStoreError) as exc:
                self._failed(exc)  # the batch stays in the journal; its written part replays as a no-op
                return False
        return True

    def _end_left_open(self) -> None:
        """Once the spool an earlier run left is replayed: end what that run left open."""
        assert self._reconcile is not None
        try:
            ends = self._call(self._reconcile, self._started)
            if ends:
                self._call(self._store.write, ends)
        except (StoreUnavailable, AlertStoreError) as exc:
            self._failed(exc)
            return
        if ends:
            log.warning("alerts: ended %d alerts left open by an earlier run (end_reason interrupted)", len(ends))
            self._written += len(ends)
        self._reconcile = None

    def _probe(self) -> None:
        try:
            self._call(self._store.connect)
        except (StoreUnavailable, AlertStoreError) as exc:
            self._failed(exc)
        else:
            self._recovered(self._pending())

    def _failed(self, exc: Exception) -> None:
        self._store.close()
        self._db_error = self._store.scrub(str(exc))
        if self._healthy:
            log.warning("alerts: %s; spooling to %s", self._db_error, self._spool.path)
        else:
            self._backoff_s = min(self._backoff_s * 2, self._retry_max_s)
        self._healthy = False
        self._next_try = time.monotonic() + self._backoff_s

    def _recovered(self, waiting: int) -> None:
        """The sink took a write (or a connection): `waiting` events were waiting for it."""
        if not self._healthy:
            log.warning("alerts: %s is back; replaying %d spooled events", self._store.masked, waiting)
        self._healthy, self._db_error = True, ""
        self._backoff_s = self._retry_base_s


def open_recorder(url: str, spool_path: str | Path, password: str | None = None, *, timeout_s: float = 5.0,
                  streams: Sequence[str] = (), **kw: Any) -> AlertRecorder:
    """Start recording alerts to `url`; events left in the spool by an earlier run are replayed first,
    then the alerts of `streams` that an earlier run left open are ended as interrupted.

    Raises AlertStoreError (one masked line) for a malformed URL, an unknown scheme, bad credentials
    or an unknown database. An unreachable database is not an error: the recorder spools and retries.
    """
    store = open_store(url, password, timeout_s=timeout_s)

    def reconcile(started: float) -> list[AlertEvent]:
        return [left_open_end(a) for a in store.left_open(list(streams), started)]

    return start_writer(store, spool_path, reconcile=reconcile if streams else None, **kw)


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
