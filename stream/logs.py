"""One logging set-up that every dfd process installs first.

Library code (the alert recorder and spool, the transport's key gate) logs
through `logging`; without a handler its warnings went to Python's last-resort
stderr writer, unmasked and across the live console. Here every record
becomes one line, with any URL password masked, sent through `write`: the
supervisor passes its `notice` (which the console prints above the live
screen), a child process writes to stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from stream.secrets import mask_url


class _LineHandler(logging.Handler):
    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                line = f"{line}: {record.exc_info[1]}"  # one line, never a traceback on the console
            self._write(mask_url(line))
        except Exception:  # noqa: BLE001 (logging must never take the process down)
            self.handleError(record)


def install_logging(write: Callable[[str], None] | None = None, prefix: str = "dfd") -> None:
    """Route WARNING and above of every logger to `write` (default: one line on stderr)."""

    def to_stderr(line: str) -> None:
        print(f"{prefix}: {line}", file=sys.stderr, flush=True)

    root = logging.getLogger()
    root.handlers[:] = [_LineHandler(write or to_stderr)]
    root.setLevel(logging.WARNING)
