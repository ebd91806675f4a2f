"""An append-only, fsynced journal of alert events that the database has not taken yet.

Every event is journaled before it is written to the database, and dropped
from the journal once the database has it; so a crash or an outage at any
point loses nothing, and a replay is harmless because writes are idempotent.
One event per line, in the wire format of `stream.wire`. A torn last line
(a crash in the middle of an append) and any line that does not decode are
moved to `<spool>.rejected`, never silently dropped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path

from stream.alerts.errors import AlertStoreError
from stream.wire import AlertEvent, MessageError, decode, encode

log = logging.getLogger("dfd.alerts")
CHUNK = 1 << 20


class Spool:
    """The journal file: `append` at the end, `peek`/`consume` from the front, in order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rejected_path = self.path.with_name(self.path.name + ".rejected")
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise AlertStoreError(f"alerts spool {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise AlertStoreError(f"alerts spool {self.path} is in use by another dfd process") from None
        if created:
            _fsync_dir(self.path.parent)
        self._offset = 0  # bytes at the front already written to the database
        self._depth = self._recover()

    @property
    def depth(self) -> int:
        """Events in the journal that the database does not have yet."""
        return self._depth

    def _recover(self) -> int:
        """Count complete lines; move a torn tail (no newline) to the rejected file."""
        size = os.fstat(self._fd).st_size
        lines, pos, last_newline = 0, 0, -1
        while pos < size:
            chunk = os.pread(self._fd, min(CHUNK, size - pos), pos)
            lines += chunk.count(b"\n")
            at = chunk.rfind(b"\n")
            if at >= 0:
                last_newline = pos + at
            pos += len(chunk)
        tail_start = last_newline + 1
        if tail_start < size:
            torn = os.pread(self._fd, size - tail_start, tail_start)
            self._reject_text("torn last line (a crash during an append)", torn.decode("utf-8", "replace"))
            os.ftruncate(self._fd, tail_start)
            os.fsync(self._fd)
            log.warning("alerts spool %s: moved a torn last line of %d bytes to %s",
                        self.path, len(torn), self.rejected_path)
        return lines

    def append(self, events: list[AlertEvent]) -> None:
        """Add events at the end and fsync. On failure the file is cut back, so no line is torn."""
        if not events:
            return
        data = b"".join(encode(e) + b"\n" for e in events)
        with self._lock:
            size = os.fstat(self._fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
                os.fsync(self._fd)
            except OSError:
                try:
                    os.ftruncate(self._fd, size)
                except OSError:
                    pass  # the torn tail is recovered at the next start
                raise
            self._depth += len(events)

    def peek(self, limit: int) -> tuple[list[AlertEvent], int]:
        """Up to `limit` events from the front, and the offset to `consume` them with.

        A line that does not decode is moved to the rejected file when it reaches the front.
        """
        events: list[AlertEvent] = []
        with self._lock:
            pos = self._offset  # the file offset of buffer[start]
            buffer, start = b"", 0
            while len(events) < limit:
                chunk = os.pread(self._fd, CHUNK, pos + len(buffer) - start)
                if not chunk:
                    break
                buffer, start = buffer[start:] + chunk, 0
                while len(events) < limit:
                    end = buffer.find(b"\n", start)
                    if end < 0:
                        break
                    line = buffer[start:end]
                    try:
                        msg = decode(line)
                        if not isinstance(msg, AlertEvent):
                            raise MessageError(f"a {msg.TOPIC} message, not an alert")
                    except MessageError as exc:
                        if events:
                            return events, pos  # the bad line waits until it is at the front
                        self._reject_text(f"undecodable spool line: {exc}", line.decode("utf-8", "replace"))
                        self._offset = pos + len(line) + 1
                        self._depth -= 1
                    else:
                        events.append(msg)
                    start = end + 1
                    pos += len(line) + 1
            if not events:
                self._truncate_if_drained()
            return events, pos

    def consume(self, offset: int, count: int) -> None:
        """The database has the events up to `offset`; once it has them all, empty the file."""
        with self._lock:
            self._offset = offset
            self._depth -= count
            self._truncate_if_drained()

    def _truncate_if_drained(self) -> None:
        if self._offset >= os.fstat(self._fd).st_size:
            if self._offset > 0:
                os.ftruncate(self._fd, 0)
                os.fsync(self._fd)
            self._offset, self._depth = 0, 0

    def reject(self, reason: str, event: AlertEvent) -> None:
        """Keep an event the database refuses for its content, with the reason, out of the replay path."""
        self._reject_text(reason, json.dumps(asdict(event)))

    def _reject_text(self, reason: str, text: str) -> None:
        line = json.dumps({"at": time.time(), "reason": reason, "record": text}) + "\n"
        with open(self.rejected_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def close(self) -> None:
        """Drop the part already written to the database, so the next start replays only the rest."""
        with self._lock:
            if self._fd < 0:
                return
            if self._offset > 0:
                self._compact()
            os.close(self._fd)
            self._fd = -1

    def _compact(self) -> None:
        size = os.fstat(self._fd).st_size
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as out:
            pos = self._offset
            while pos < size:
                chunk = os.pread(self._fd, min(CHUNK, size - pos), pos)
                out.write(chunk)
                pos += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._offset = 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
