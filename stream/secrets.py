"""Credentials never reach a screen, a log or a record: mask them in one place."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]*)@")


def mask_url(url: str) -> str:
    """Replace the password of any `scheme://user:password@host` in the text with ***."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)


def with_password(url: str, password: str | None) -> str:
    """Put a password (from the environment) into a URL that names a user but no password."""
    if not password:
        return url
    parts: SplitResult = urlsplit(url)
    if parts.username is None:
        raise ValueError(f"{mask_url(url)}: a password was given but the URL names no user")
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


class SecretFilter:
    """Mask a known set of secret strings in arbitrary text (log lines, JSON events)."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._secrets = [s for s in (secrets or []) if s]

    def __call__(self, text: str) -> str:
        text = mask_url(text)
        for s in self._secrets:
            text = text.replace(s, MASK).replace(quote(s, safe=""), MASK)
        return text
