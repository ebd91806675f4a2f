"""The caller's side of the alert writer: an event is in the fsynced spool when `submit` returns.

So an event the supervisor has printed survives a `kill -9` at any moment,
whatever the database is doing: nothing here waits on a sink. If the spool
cannot take an event (a full disk, an I/O error), it is held in memory, in
order behind any already held; a thread tries the spool again every RETRY_S,
and the failure is said once (a log line, routed to stderr and the console)
and kept in `error` for the status.
"""

from __future__ import annotations

import logging
import threading

from stream.alerts.spool import Spool
from stream.wire import AlertEvent

log = logging.getLogger("dfd.alerts")
RETRY_S = 0.5


class Journal:
    def __init__(self, spool: Spool, appended: threading.Event) -> None:
        self.spool = spool
        self._appended = appended  # set after each append: wakes the writer
        self._held: list[AlertEvent] = []  # not in the spool: it refused them (oldest first)
        self._lock = threading.Lock()
        self.error = ""  # why the spool refuses appends; "" while it takes them
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._retry, name="dfd-journal", daemon=True)
        self._thread.start()

    @property
    def unsaved(self) -> int:
        """Events only in memory: lost if this process dies."""
        return len(self._held)

    def submit(self, event: AlertEvent) -> None:
        with self._lock:
            self._held.append(event)
            self._save()

    def _save(self) -> None:
        """Append every held event (the lock is held)."""
        if not self._held:
            return
        try:
            self.spool.append(self._held)
        except OSError as exc:
            if not self.error:
                log.error("alerts spool %s: %s; holding alert events in memory and trying again",
                          self.spool.path, exc.strerror or exc)
            self.error = f"spool {self.spool.path}: {exc.strerror or exc}"
            return
        if self.error:
            log.warning("alerts spool %s takes writes again; %d held events saved", self.spool.path, len(self._held))
        self._held.clear()
        self.error = ""
        self._appended.set()

    def front(self, limit: int) -> list[AlertEvent]:
        """The oldest held events: the writer delivers them itself while the spool is empty and failing."""
        with self._lock:
            return self._held[:limit]

    def drop(self, events: list[AlertEvent]) -> None:
        """The writer delivered these (from `front`); forget them unless the spool took them meanwhile."""
        with self._lock:
            n = len(events)
            if len(self._held) >= n and all(a is b for a, b in zip(self._held, events)):
                del self._held[:n]

    def _retry(self) -> None:
        while not self._stop.wait(RETRY_S):
            with self._lock:
                self._save()

    def close(self) -> int:
        """A last try; returns how many events could not be saved."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            self._save()
            return len(self._held)
