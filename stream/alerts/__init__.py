"""Alert records: SQLite by default, MySQL/MariaDB through pymysql, with a spool so nothing is lost.

    recorder = open_recorder("sqlite:///alerts.db", "alerts.spool")
    recorder.submit(event)        # never waits on the database
    recorder.status()             # RecorderStatus(state, spool_depth, unsaved, written, backend, last_error)
    recorder.close()              # unwritten events stay in the spool for the next start

    store = open_store(url, password, must_exist=True); store.connect()
    store.list_alerts(stream=..., since=..., until=...); store.get_alert(id_or_prefix)
"""

from stream.alerts.backends import open_store
from stream.alerts.errors import AlertStoreError
from stream.alerts.recorder import AlertRecorder, open_recorder
from stream.alerts.records import AlertRecord, EventRecord
from stream.alerts.sink import RecorderStatus
from stream.alerts.url import DEFAULT_URL, parse_url

__all__ = [
    "DEFAULT_URL",
    "AlertRecord",
    "AlertRecorder",
    "AlertStoreError",
    "EventRecord",
    "RecorderStatus",
    "open_recorder",
    "open_store",
    "parse_url",
]
