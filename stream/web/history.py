"""The alert history as the page lists it, read from the alert store; evidence files found safely.

Evidence is served from the evidence folder only: a requested path is resolved
(symlinks, `..`) and must land on a file inside it, else it is not found.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stream.alerts import AlertRecord, open_store
from stream.alerts.errors import NothingRecorded
from stream.config import Config, secret_from_env

MAX_LIMIT = 500


def evidence_file(root: Path, rel: str) -> Path | None:
    """The file `rel` names inside `root` (already resolved), or None: outside it, absent, or not a file."""
    try:
        path = (root / rel.lstrip("/")).resolve()
        return path if path.is_relative_to(root) and path.is_file() else None
    except (OSError, ValueError):  # a NUL byte, a symlink loop, a name too long
        return None


def evidence_url(root: Path, recorded: str) -> str | None:
    """/evidence/<stream>/<file> for a recorded path: its place under `root`, else its last two parts
    (the folder layout `<root>/<stream>/<file>`, for a database read where the run's cwd was another)."""
    path = Path(recorded)
    try:
        rel = path.resolve().relative_to(root)
    except (OSError, ValueError):
        rel = Path(path.parent.name, path.name)
    return "/evidence/" + quote(rel.as_posix()) if evidence_file(root, rel.as_posix()) else None


def alert_json(alert: AlertRecord, root: Path) -> dict[str, Any]:
    out = asdict(alert)
    del out["events"]
    out["urls"] = {kind: url for kind, p in alert.evidence.items() if (url := evidence_url(root, p))}
    return out


def list_history(cfg: Config, stream: str | None, since: float | None, until: float | None,
                 limit: int) -> list[dict[str, Any]]:
    """Alerts active in [since, until], newest first; [] while nothing was recorded yet."""
    store = open_store(cfg.alerts.url, secret_from_env(cfg.alerts.password_env), must_exist=True)
    root = Path(cfg.alerts.evidence_dir).resolve()
    try:
        alerts = store.list_alerts(stream=stream or None, since=since, until=until,
                                   limit=max(1, min(limit, MAX_LIMIT)))
    except NothingRecorded:
        return []
    finally:
        store.close()
    return [alert_json(a, root) for a in alerts]
