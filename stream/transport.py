"""Where the sockets of a run are, how they are secured, and the one factory that makes them.

- `Endpoint`: an address parsed once into its parts (ipc path, or tcp host
  and port); `Endpoints`: every address of one run.
- `Security`: one process's CURVE (its key settings and the ZAP gate of its
  context), made once at process start and passed to `open_socket`. None
  means plain sockets: ipc:// in a private folder, or tcp:// on loopback
  (which every local user can reach: only with stream.insecure_loopback).
- `open_socket`: every socket of `dfd watch` is made here. A tcp:// socket
  that binds is a CURVE server admitting only the authorized public keys;
  one that connects is a CURVE client that checks the server's key. Binding
  beyond loopback without keys is refused here, whatever the caller checked.
  An IPv6 host (::1) is written in brackets, and its socket speaks IPv6.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import zmq

from edge_model.errors import DfdError
from stream.keys import CurveSettings

ZAP_DOMAIN = "dfd"
# A dead peer (cable pulled, link down) is noticed within HEARTBEAT_TIMEOUT_MS, so its frames go to the others.
HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 3000
# A client retries a connection this often while the server's host is unreachable, so it rejoins soon after.
CONNECT_TIMEOUT_MS = 2000

log = logging.getLogger(__name__)


class TransportError(DfdError):
    """A bad endpoint, or a socket that would listen on a network unprotected."""


@dataclass(frozen=True)
class Endpoint:
    """One ZeroMQ address: ipc:// with a path, or tcp:// with a host and a port."""

    scheme: Literal["ipc", "tcp"]
    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        scheme, sep, rest = text.partition("://")
        if sep and scheme == "ipc" and rest:
            return cls("ipc", path=rest)
        host, colon, port = rest.rpartition(":")
        host = bare_host(host)
        if sep and scheme == "tcp" and colon and host and port.isdigit() and 0 < int(port) < 65536:
            return cls("tcp", host=host, port=int(port))
        raise TransportError(f"endpoint {text[:100]!r}: expected ipc://PATH or tcp://HOST:PORT")

    @property
    def ipv6(self) -> bool:
        return ":" in self.host

    def __str__(self) -> str:
        if self.scheme == "ipc":
            return f"ipc://{self.path}"
        return f"tcp://[{self.host}]:{self.port}" if self.ipv6 else f"tcp://{self.host}:{self.port}"


def host_and_port(text: str, default_port: int) -> tuple[str, int]:
    """HOST[:PORT] as the user writes it: host:5570, [::1]:5570, or a bare host (::1, cam-host)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host or (port and not port.isdigit()):
        raise TransportError(f"{text[:100]!r}: expected HOST, HOST:PORT or [IPv6]:PORT")
    return host, int(port) if port else default_port


def bare_host(host: str) -> str:
    """[::1] -> ::1: an IPv6 address is kept without the brackets a URL needs, and put back by Endpoint."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


@dataclass(frozen=True)
class Endpoints:
    """Where every socket of one run binds or connects."""

    events: Endpoint
    frames: dict[str, Endpoint]  # stream name -> endpoint
    directory: Endpoint | None = None  # tcp only


def ipc_endpoints(run_dir: str | Path, streams: list[str]) -> Endpoints:
    """Unix sockets in the run's private directory (mode 0700)."""
    d = Path(run_dir)
    return Endpoints(
        Endpoint("ipc", path=str(d / "events")),
        {s: Endpoint("ipc", path=str(d / f"frames-{i}")) for i, s in enumerate(streams)},
    )


def tcp_endpoints(bind: str, port: int, streams: list[str]) -> Endpoints:
    """Directory on `port`, events on port+1, stream i on port+2+i."""
    bind = bare_host(bind)
    return Endpoints(
        Endpoint("tcp", bind, port + 1),
        {s: Endpoint("tcp", bind, port + 2 + i) for i, s in enumerate(streams)},
        directory=Endpoint("tcp", bind, port),
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or an interface name: assume it reaches the network


def bind_problem(host: str, has_secret_key: bool, has_authorized: bool, open_loopback: bool) -> str | None:
    """Why listening on tcp `host` is unsafe, or None: beyond loopback needs CURVE keys and the allowed keys.

    Loopback without keys needs `open_loopback`: every local user can reach it
    (send forged alerts, pull camera frames), so the user must say so.
    """
    if is_loopback(host):
        if has_secret_key or open_loopback:
            return None
        return (
            "stream.transport: tcp without CURVE keys lets every local user connect (forge alerts, pull camera "
            "frames); set stream.curve_secret_key (see `dfd keys --help`), or accept that with "
            "--insecure-loopback (stream.insecure_loopback = true)"
        )
    if not has_secret_key:
        return (
            f"stream.bind: {host} is not a loopback address; listening on a network needs CURVE keys "
            "(set stream.curve_secret_key and stream.curve_authorized, see `dfd keys --help`)"
        )
    if not has_authorized:
        return f"stream.bind: {host} needs stream.curve_authorized (the workers' public keys)"
    return None


class KeyGate:
    """The ZAP handler of one zmq.Context: admits only the authorized public keys, logs the others.

    Without it libzmq would accept any client key.
    """

    def __init__(self, context: zmq.Context, authorized: frozenset[bytes]) -> None:
        import zmq.auth.thread  # only a process that binds with CURVE: it loads asyncio (7 MiB)

        self._authorized = authorized
        self._auth = zmq.auth.thread.ThreadAuthenticator(context, log=log.getChild("zap"))
        self._auth.start()
        self._auth.configure_curve_callback(domain=ZAP_DOMAIN, credentials_provider=self)

    def callback(self, domain: str, key: bytes) -> bool:
        if key in self._authorized:
            return True
        log.warning("refused a connection from an unknown CURVE key %s", key.decode("ascii", "replace"))
        return False

    def stop(self) -> None:
        self._auth.stop()


@dataclass
class Security:
    """One process's CURVE: its key settings, and the gate of its context once a socket binds.

    Made once per process with the process's zmq.Context; `close()` before the context ends.
    """

    ctx: zmq.Context
    curve: CurveSettings
    gate: KeyGate | None = field(default=None, init=False)

    def server(self, sock: zmq.Socket) -> None:
        """Make `sock` a CURVE server; call before bind()."""
        if self.gate is None:
            # Workers on this host hold this host's own key pair, so it is always admitted.
            self.gate = KeyGate(self.ctx, self.curve.authorized | {self.curve.keys.public})
        sock.curve_secretkey = self.curve.keys.secret
        sock.curve_publickey = self.curve.keys.public
        sock.curve_server = True
        sock.zap_domain = ZAP_DOMAIN.encode()
        _keep_alive(sock)

    def client(self, sock: zmq.Socket) -> None:
        """Make `sock` a CURVE client of the server `curve.server_key`; call before connect()."""
        sock.curve_secretkey = self.curve.keys.secret
        sock.curve_publickey = self.curve.keys.public
        sock.curve_serverkey = self.curve.server_key
        sock.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)
        _keep_alive(sock)

    def close(self) -> None:
        if self.gate is not None:
            self.gate.stop()
            self.gate = None


def _keep_alive(sock: zmq.Socket) -> None:
    """ZMTP heartbeats: a peer whose link is gone is dropped, and a client reconnects when it returns."""
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)


def open_socket(
    ctx: zmq.Context, kind: int, endpoint: Endpoint, security: Security | None, bind: bool, **options: int
) -> zmq.Socket:
    """A socket of `kind` bound or connected at `endpoint`; CURVE on tcp:// when `security` is given.

    `options` are ZeroMQ socket options by lower-case name (linger defaults to 0).
    """
    if endpoint.scheme == "tcp" and bind:
        # loopback without keys is the run's choice (stream.insecure_loopback), checked with its config
        has_authorized = bool(security and security.curve.authorized)
        problem = bind_problem(endpoint.host, security is not None, has_authorized, open_loopback=True)
        if problem:
            raise TransportError(problem)
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, options.pop("linger", 0))
    if endpoint.scheme == "tcp" and endpoint.ipv6:
        sock.setsockopt(zmq.IPV6, 1)
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name.upper()), value)
    if endpoint.scheme == "tcp" and security is not None:
        (security.server if bind else security.client)(sock)
    try:
        (sock.bind if bind else sock.connect)(str(endpoint))
    except zmq.ZMQError:
        sock.close()
        raise
    return sock
