"""Parse the alerts URL: `sqlite:///relative.db`, `sqlite:////abs.db`, `mysql://user[:pw]@host[:port]/db`.

The password is kept out of every string this module makes: `masked` is the
only form of the URL that may be printed, logged or stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from stream.alerts.errors import AlertStoreError
from stream.secrets import SecretFilter, mask_url

DEFAULT_URL = "sqlite:///alerts.db"
MYSQL_SCHEMES = ("mysql", "mariadb")
MYSQL_DEFAULT_PORT = 3306


@dataclass(frozen=True)
class StoreURL:
    """Where the alerts go. `password` never appears in `masked` or in `repr`."""

    scheme: str  # "sqlite" or "mysql"
    masked: str
    path: Path | None = None  # sqlite
    user: str = ""
    host: str = ""
    port: int = MYSQL_DEFAULT_PORT
    database: str = ""
    password: str | None = field(default=None, repr=False)

    def scrub(self, text: str) -> str:
        """Mask this URL's password (plain or percent-encoded) and any URL password in the text."""
        return SecretFilter([self.password or ""])(text)


def _bad(url: str, password: str | None, problem: str) -> AlertStoreError:
    return AlertStoreError(SecretFilter([password or ""])(f"alerts URL {mask_url(url)!r}: {problem}"))


def parse_url(url: str, password: str | None = None) -> StoreURL:
    """Split an alerts URL; `password` (from the environment) overrides one in the URL."""
    url = url.strip()
    if "://" not in url:
        raise _bad(url, password, "not a URL; use sqlite:///path/alerts.db or mysql://user@host:port/database")
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        return _parse_sqlite(url, password)
    if scheme in MYSQL_SCHEMES:
        return _parse_mysql(url, password)
    raise _bad(url, password, f"unknown scheme {scheme!r}; use sqlite:// or mysql://")


def _parse_sqlite(url: str, password: str | None) -> StoreURL:
    rest = url.split("://", 1)[1]
    if not rest.startswith("/") or rest.strip("/") == "":
        raise _bad(url, password, "expected sqlite:///relative/path.db or sqlite:////absolute/path.db")
    if "?" in rest or "#" in rest:
        raise _bad(url, password, "sqlite URLs take no options")
    if password:
        raise _bad(url, password, "a password was given for a SQLite file")
    path = Path(unquote(rest[1:]))
    return StoreURL(scheme="sqlite", masked=f"sqlite:///{rest[1:]}", path=path)


def _parse_mysql(url: str, password: str | None) -> StoreURL:
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise _bad(url, password, "mysql URLs take no options after '?' or '#'")
    try:
        port = parts.port or MYSQL_DEFAULT_PORT
    except ValueError:
        raise _bad(url, password, "the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise _bad(url, password, "no host; expected mysql://user[:password]@host[:port]/database")
    if not parts.username:
        raise _bad(url, password, "no user; expected mysql://user[:password]@host[:port]/database")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise _bad(url, password, "expected one database name after the host, as in mysql://user@host/dfd")
    user = unquote(parts.username)
    secret = password if password else (unquote(parts.password) if parts.password else None)
    auth = f"{parts.username}:***" if secret else parts.username
    masked = f"{parts.scheme.lower()}://{auth}@{parts.hostname}:{port}/{parts.path.lstrip('/')}"
    return StoreURL(
        scheme="mysql", masked=masked, user=user, host=parts.hostname, port=port,
        database=database, password=secret,
    )
