"""CURVE key files: make a key pair, read one back, and the settings a host's key files give.

Key files use ZeroMQ's certificate format (ZPL), as `zmq.auth` writes them:
`NAME.key` holds both keys and is readable by its owner only; `NAME.key.pub`
holds the public key and is what you copy to the other host. How sockets use
the keys is stream.transport's business.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from zmq.utils import z85

from edge_model.errors import DfdError

PUBLIC_SUFFIX = ".key.pub"
SECRET_SUFFIX = ".key"


class CurveError(DfdError):
    """A missing, unreadable or malformed key file: one line that names the file."""


@dataclass(frozen=True)
class KeyPair:
    """Z85-encoded CURVE keys (40 ASCII bytes each); `secret` is None for a public-only file."""

    public: bytes
    secret: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CurveSettings:
    """What one process needs to secure its tcp:// sockets.

    `keys` is this host's key pair. A server admits the public keys in
    `authorized`; a client checks that the server holds `server_key`.
    """

    keys: KeyPair
    authorized: frozenset[bytes]
    server_key: bytes


def _check_z85_key(value: bytes, what: str, path: Path) -> bytes:
    if len(value) != 40:
        raise CurveError(f"{path}: {what} is not a 40-character Z85 CURVE key")
    try:
        z85.decode(value)
    except (ValueError, KeyError, TypeError):
        raise CurveError(f"{path}: {what} is not valid Z85") from None
    return value


def write_keypair(out_dir: str | Path, name: str, overwrite: bool = False) -> tuple[Path, Path]:
    """Make a key pair: NAME.key (both keys, mode 0600) and NAME.key.pub. Returns (secret, public) paths."""
    if not name or "/" in name or name.startswith("."):
        raise CurveError(f"key name {name!r}: use a plain file name such as the host's name")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    secret_path, public_path = out / f"{name}{SECRET_SUFFIX}", out / f"{name}{PUBLIC_SUFFIX}"
    if not overwrite:
        for p in (secret_path, public_path):
            if p.exists():
                raise CurveError(f"{p}: already exists (use --force to replace it)")
    public, secret = zmq.curve_keypair()
    body = f"metadata\ncurve\n    public-key = \"{public.decode()}\"\n"
    text_public = f"#   dfd CURVE public key {name!r}: copy it to the hosts that should trust it\n{body}"
    text_secret = f"#   dfd CURVE secret key {name!r}: keep it private\n{body}    secret-key = \"{secret.decode()}\"\n"
    if overwrite and secret_path.exists():
        secret_path.unlink()
    # Created 0600 from the start: the secret is never readable by others, not even for a moment.
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text_secret)
    public_path.write_text(text_public, encoding="ascii")
    return secret_path, public_path


def read_key_file(path: str | Path) -> KeyPair:
    """Parse a ZPL certificate; a file with a secret key must not be readable by group or others."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise CurveError(f"{p}: no such key file (make one with `dfd keys`)") from None
    except OSError as exc:
        raise CurveError(f"{p}: cannot read key file ({exc.strerror})") from None
    values: dict[bytes, bytes] = {}
    for line in raw.splitlines():
        key, sep, value = line.strip().partition(b"=")
        if sep and key.strip() in (b"public-key", b"secret-key"):
            values[key.strip()] = value.strip(b" \t'\"")
    if b"public-key" not in values:
        raise CurveError(f"{p}: not a CURVE key file (no public-key line)")
    public = _check_z85_key(values[b"public-key"], "public-key", p)
    secret = values.get(b"secret-key")
    if secret is not None:
        _check_z85_key(secret, "secret-key", p)
        mode = p.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CurveError(
                f"{p}: secret key file is readable by others (mode {stat.S_IMODE(mode):04o}); run chmod 600 {p}"
            )
        if zmq.curve_public(secret) != public:
            raise CurveError(f"{p}: public-key does not belong to secret-key")
    return KeyPair(public, secret)


def read_secret_keys(path: str | Path) -> KeyPair:
    keys = read_key_file(path)
    if keys.secret is None:
        raise CurveError(f"{path}: holds no secret key (give NAME.key, not NAME.key.pub)")
    return keys


def read_authorized(path: str | Path) -> frozenset[bytes]:
    """The public keys in one key file, or in every *.key.pub file of a folder."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob(f"*{PUBLIC_SUFFIX}"))
        if not files:
            raise CurveError(f"{p}: no *{PUBLIC_SUFFIX} files: copy each worker's public key here")
    else:
        files = [p]
    return frozenset(read_key_file(f).public for f in files)


def read_curve_settings(secret_key: str, authorized: str = "", server_key: str = "") -> CurveSettings | None:
    """The settings named by the config's stream.curve_* paths, read and checked now; None without a secret key."""
    if not secret_key:
        if authorized or server_key:
            raise CurveError("stream.curve_secret_key: needed when CURVE key files are configured")
        return None
    keys = read_secret_keys(secret_key)
    return CurveSettings(
        keys=keys,
        authorized=read_authorized(authorized) if authorized else frozenset(),
        # Without a server key the server is this host (a local worker), so it holds our own key.
        server_key=read_key_file(server_key).public if server_key else keys.public,
    )
