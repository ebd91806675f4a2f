"""Make a CURVE key pair for encrypted, authenticated tcp:// between hosts.

Writes NAME.key (both keys, readable by you only: it stays on this host) and
NAME.key.pub (the public key: copy it to the other host). Run it once on the
capture host and once on every worker host; see "Workers on other hosts" in
the README.
"""

from __future__ import annotations

import argparse
import socket

from stream.keys import write_keypair

HELP = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="DIR", default="keys", help="folder for the key files (default ./keys)")
    p.add_argument("--name", help="file name for the pair (default: this host's name)")
    p.add_argument("--force", action="store_true", help="replace an existing pair of that name")


def run(args: argparse.Namespace) -> int:
    name = args.name or socket.gethostname().split(".")[0] or "dfd"
    secret, public = write_keypair(args.out, name, overwrite=args.force)
    print(f"secret key: {secret} (mode 0600, keep it on this host)")
    print(f"public key: {public} (copy it to the other hosts)")
    return 0
