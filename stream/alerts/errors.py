"""The alert store's errors: one masked line for the user, or a transient outage for the writer."""

from __future__ import annotations

from edge_model.errors import DfdError


class AlertStoreError(DfdError):
    """A bad alerts URL, bad credentials, an unknown database or an unusable file: one masked line."""


class NothingRecorded(AlertStoreError):
    """Reading a store that no `dfd watch` has written yet: an empty history, not a failure."""


class StoreUnavailable(Exception):
    """The database is unreachable or refuses writes right now; the writer spools and retries."""


class RecordRejected(Exception):
    """The database is up but refuses these records themselves (bad data), so retrying cannot help."""
