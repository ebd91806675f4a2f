"""ZeroMQ CURVE for every tcp:// endpoint: key files, secured sockets, and who may connect.

The host that binds (captures and the supervisor) is the CURVE server: it
admits only the workers whose public keys are listed. A worker on another
host is a CURVE client: it proves its own key and checks the server's. The
traffic is encrypted both ways. Without keys, tcp:// stays on loopback
(`check_bind`), so nothing unauthenticated ever listens on a network.

Key files use ZeroMQ's certificate format (ZPL), as `zmq.auth` writes them:
`NAME.key` holds both keys and is readable by its owner only; `NAME.key.pub`
holds the public key and is what you copy to the other host.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import zmq
import zmq.auth.thread
from zmq.utils import z85

from edge_model.errors import DfdError

if TYPE_CHECKING:  # config imports this module for its bind check
    from stream.config import StreamSection

ZAP_DOMAIN = b"dfd"
PUBLIC_SUFFIX = ".key.pub"
SECRET_SUFFIX = ".key"
# A dead peer (cable pulled, link down) is noticed within HEARTBEAT_TIMEOUT_MS, so its frames go to the others.
HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 3000
# A client retries a connection this often while the server's host is unreachable, so it rejoins soon after.
CONNECT_TIMEOUT_MS = 2000

log = logging.getLogger(__name__)


class CurveError(DfdError):
    """A missing, unreadable or malformed key file, or an insecure set-up: one line that names the file."""


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


def settings_from_paths(secret_key: str, authorized: str = "", server_key: str = "") -> CurveSettings | None:
    """CurveSettings from config paths, or None when no secret key is configured (loopback only)."""
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


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or an interface name: assume it reaches the network


def bind_problem(address: str, secret_key: object, authorized: object) -> str | None:
    """Why binding tcp:// to `address` is unsafe with these keys, or None: beyond loopback needs CURVE."""
    if is_loopback(address):
        return None
    if not secret_key:
        return (
            f"stream.bind: {address} is not a loopback address; listening on a network needs CURVE keys "
            "(set stream.curve_secret_key and stream.curve_authorized, see `dfd keys --help`)"
        )
    if not authorized:
        return f"stream.bind: {address} needs stream.curve_authorized (the workers' public keys)"
    return None


def check_bind(address: str, curve: CurveSettings | None) -> None:
    problem = bind_problem(address, curve, curve and curve.authorized)
    if problem:
        raise CurveError(problem)


def _keep_alive(sock: zmq.Socket) -> None:
    """ZMTP heartbeats: a peer whose link is gone is dropped, and a client reconnects when it returns."""
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)


def secure_server(sock: zmq.Socket, curve: CurveSettings) -> None:
    """Make a socket that binds a CURVE server; call before bind()."""
    sock.curve_secretkey = curve.keys.secret
    sock.curve_publickey = curve.keys.public
    sock.curve_server = True
    sock.zap_domain = ZAP_DOMAIN
    _keep_alive(sock)


def secure_client(sock: zmq.Socket, curve: CurveSettings) -> None:
    """Make a socket that connects a CURVE client of the server `curve.server_key`; call before connect()."""
    sock.curve_secretkey = curve.keys.secret
    sock.curve_publickey = curve.keys.public
    sock.curve_serverkey = curve.server_key
    sock.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)
    _keep_alive(sock)


class KeyGate:
    """The ZAP handler of one zmq.Context: admits only the authorized public keys, counts refusals.

    Every process that binds a CURVE server socket runs one (a thread).
    Without it libzmq would accept any client key.
    """

    def __init__(self, context: zmq.Context, authorized: frozenset[bytes]) -> None:
        self._authorized = authorized
        self._lock = threading.Lock()
        self.refused = 0
        self._auth = zmq.auth.thread.ThreadAuthenticator(context, log=log.getChild("zap"))

    def callback(self, domain: str, key: bytes) -> bool:
        if key in self._authorized:
            return True
        with self._lock:
            self.refused += 1
        log.warning("refused a connection from an unknown CURVE key %s", key.decode("ascii", "replace"))
        return False

    def start(self) -> KeyGate:
        self._auth.start()
        self._auth.configure_curve_callback(domain=ZAP_DOMAIN.decode(), credentials_provider=self)
        return self

    def stop(self) -> None:
        self._auth.stop()

    def __enter__(self) -> KeyGate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class CurveContext(zmq.Context):
    """A zmq.Context whose tcp:// sockets (all made by stream.bus) use CURVE with `curve`.

    A context that binds runs the KeyGate; term() and destroy() stop it first,
    so a process ends the same way with keys as without.
    """

    curve: CurveSettings | None = None
    gate: KeyGate | None = None

    def term(self) -> None:
        self._stop_gate()
        super().term()

    def destroy(self, linger: int | None = None) -> None:
        self._stop_gate()
        super().destroy(linger)

    def _stop_gate(self) -> None:
        if self.gate is not None:
            self.gate.stop()
            self.gate = None


def curve_settings(stream_cfg: StreamSection) -> CurveSettings | None:
    """The settings named by a config's [stream] section (curve_* keys), read and checked now."""
    return settings_from_paths(stream_cfg.curve_secret_key, stream_cfg.curve_authorized, stream_cfg.curve_server_key)


def curve_context(curve: CurveSettings | None) -> zmq.Context:
    """The zmq.Context for one process: plain without keys, a CurveContext with its KeyGate with them."""
    if curve is None:
        return zmq.Context()
    ctx = CurveContext()
    ctx.curve = curve
    # Workers on this host hold this host's own key pair, so it is always admitted.
    ctx.gate = KeyGate(ctx, curve.authorized | {curve.keys.public}).start()
    return ctx


def secure(ctx: zmq.Context, sock: zmq.Socket, endpoint: str, bind: bool) -> None:
    """Called for every socket before bind/connect: CURVE on tcp:// when the context has keys.

    A bind beyond loopback without keys is refused here too, whatever the caller checked.
    """
    if not endpoint.startswith("tcp://"):
        return
    curve = getattr(ctx, "curve", None)
    if bind:
        check_bind(endpoint[len("tcp://"):].rsplit(":", 1)[0], curve)
    if curve is not None:
        (secure_server if bind else secure_client)(sock, curve)
