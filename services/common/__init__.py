"""What every peer shares: the port, the payload size, the server's name, and logging."""

from __future__ import annotations

import logging
import os
import sys

PORT = 8080  # Wireshark decodes HTTP on 8080 by default, so the captures open decoded
PAYLOAD_BYTES = 64  # every protocol's server message carries this many bytes, so figures compare
TIMEOUT = 30.0  # no scenario may hang the lab


def server_host(protocol: str) -> str:
    return os.environ.get("SERVER_HOST", f"{protocol}-server")


def payload(tag: str, n: int) -> str:
    """A readable payload of exactly PAYLOAD_BYTES bytes, e.g. 'tick 3 ......'."""
    head = f"{tag} {n} "
    return head + "." * (PAYLOAD_BYTES - len(head))


def log(name: str) -> logging.Logger:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format=f"{name}: %(message)s")
    return logging.getLogger(name)
