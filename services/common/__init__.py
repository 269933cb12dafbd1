"""What every peer shares: the port, the payload size, the server's name, TLS, and logging.

With TLS=1 a peer speaks over TLS on 443 (Wireshark decodes TLS there by default), the
server with the lab's self-signed certificate, the client writing its session keys to
SSLKEYLOGFILE so the capture can carry them (editcap --inject-secrets).
"""

from __future__ import annotations

import logging
import os
import ssl
import sys

TLS = os.environ.get("TLS") == "1"
# Wireshark decodes HTTP on 8080 and TLS on 443 by default, so the captures open decoded.
LAB_PORT = 443 if TLS else 8080
# Your server in the lab (lab/byo.py): where it listens, what the client asks for, and that the
# verdict, not the client, judges it (a client stops after BYO_LISTEN seconds instead of failing).
PORT = int(os.environ.get("SERVER_PORT") or LAB_PORT)
BYO = os.environ.get("BYO") == "1"
BYO_LISTEN = 3.0
# Through a proxy (make lab VIA=..., lab/via.py) the path may change what a client gets (a push dropped,
# a stream held back): the capture and its path findings say so, so the client does not fail the lab for it.
VIA = os.environ.get("VIA", "")
WIRE_JUDGES = BYO or bool(VIA)
CERT_DIR = os.environ.get("LAB_TLS_DIR", "/opt/lab-tls")  # the image makes it; a local run may point elsewhere
PAYLOAD_BYTES = 64  # every protocol's server message carries this many bytes, so figures compare
TIMEOUT = 30.0  # no scenario may hang the lab
# The WebSocket scenario, over HTTP/1.1 (websocket) and over one HTTP/2 stream (websocket-h2): the server ticks
# WS_TICKS times, WS_TICK_EVERY seconds apart, unprompted; the client says WS_SAYS things and hears an echo of each.
WS_TICKS, WS_TICK_EVERY, WS_SAYS = 6, 0.25, 3
# websocket.server-originates (>= 5) holds by count, not timing: each client frame can prompt at most the one server
# frame after it, and the client closes only after all WS_TICKS ticks and WS_SAYS echoes, so at least WS_TICKS of the
# WS_TICKS + WS_SAYS server frames are unprompted however the ticks and the hellos fall on a busy host.


def server_host(protocol: str) -> str:
    return os.environ.get("SERVER_HOST", f"{protocol}-server")


def server_path(default: str) -> str:
    return os.environ.get("SERVER_PATH") or default


def payload(tag: str, n: int) -> str:
    """A readable payload of exactly PAYLOAD_BYTES bytes, e.g. 'tick 3 ......'."""
    head = f"{tag} {n} "
    return head + "." * (PAYLOAD_BYTES - len(head))


def server_tls() -> ssl.SSLContext | None:
    if not TLS:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{CERT_DIR}/cert.pem", f"{CERT_DIR}/key.pem")
    return ctx


def client_tls(alpn: list[str] | None = None) -> ssl.SSLContext | None:
    """A client context that trusts the lab's own certificate and logs its session keys."""
    if not TLS:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(f"{CERT_DIR}/cert.pem")
    # keylog_filename, not SSLKEYLOGFILE alone: only create_default_context() reads that variable.
    ctx.keylog_filename = os.environ["SSLKEYLOGFILE"]
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def scheme(plain: str) -> str:
    return {"ws": "wss", "http": "https"}[plain] if TLS else plain


def log(name: str) -> logging.Logger:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format=f"{name}: %(message)s")
    return logging.getLogger(name)
