"""Small real peers on loopback for the capture and plugin tests: correct ones and deliberately wrong ones.

Raw sockets, so each peer does exactly what its name says on the wire (no library smooths it over).
Run as ``python -m tests.peers ROLE PORT``; a server prints ``ready`` once it listens.

Servers: ``ws`` (a ticker: 5 unmasked text frames unprompted, echoes, closes), ``ws-masking``
(the same, but masks its frames), ``sse`` (one event stream, 5 events 0.1 s apart), ``speaks-first``
(an HTTP/1.1 response before any request). Clients: ``ws-client``, ``http-client``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import sys
import threading
import time

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes, opcode: int = 1, masked: bool = False) -> bytes:
    head = bytes([0x80 | opcode])
    mbit = 0x80 if masked else 0
    if len(payload) < 126:
        head += bytes([mbit | len(payload)])
    else:
        head += bytes([mbit | 126]) + len(payload).to_bytes(2, "big")
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    b0, b1 = _exactly(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(_exactly(sock, 2), "big")
    key = _exactly(sock, 4) if b1 & 0x80 else b""
    data = _exactly(sock, n)
    if key:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return b0 & 0x0F, data


def _exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("peer closed")
        out += chunk
    return out


def _head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def ws_server(conn: socket.socket, masking: bool = False) -> None:
    head = _head(conn).decode("latin-1")
    key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
               if line.lower().startswith("sec-websocket-key"))
    accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
    conn.sendall(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode())
    for n in range(5):
        time.sleep(0.05)
        conn.sendall(frame(b"tick %d" % n, masked=masking))
    while True:
        opcode, data = read_frame(conn)
        if opcode == 8:
            conn.sendall(frame(data[:2], opcode=8, masked=masking))
            return
        conn.sendall(frame(b"echo " + data, masked=masking))


def sse_server(conn: socket.socket) -> None:
    _head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                 b"Connection: close\r\n\r\n")
    for n in range(5):
        time.sleep(0.1)
        conn.sendall(f"id: {n}\ndata: tick {n}\n\n".encode())


def speaks_first_server(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    _head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    time.sleep(0.2)


SERVERS = {"ws": ws_server, "ws-masking": lambda c: ws_server(c, masking=True), "sse": sse_server,
           "speaks-first": speaks_first_server}


def _accept(srv: socket.socket, role: str, connections: int) -> None:
    for _ in range(connections):
        conn, _ = srv.accept()
        with conn, contextlib.suppress(ConnectionError):
            SERVERS[role](conn)


def serve(role: str, port: int, connections: int = 1) -> None:
    with socket.create_server(("127.0.0.1", port)) as srv:
        print("ready", flush=True)
        _accept(srv, role, connections)


def ws_client(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(f"GET /ticker HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        assert b" 101 " in _head(s)
        for _ in range(5):
            read_frame(s)
        s.sendall(frame(b"hello", masked=True))
        read_frame(s)
        s.sendall(frame(b"\x03\xe8", opcode=8, masked=True))
        read_frame(s)


def http_client(port: int, target: str = "/events", wait: float = 0.0) -> None:
    """GET ``target``, ``wait`` seconds after connecting (so a server that speaks first is seen doing it)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        time.sleep(wait)
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        s.settimeout(3)
        try:
            while s.recv(4096):
                pass
        except TimeoutError:
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A peer server in a thread of this process, for the plugin tests: ``with Server("ws") as srv: srv.port``."""

    def __init__(self, role: str, connections: int = 1) -> None:
        self.role, self.port, self.connections = role, free_port(), connections
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def _run(self) -> None:
        with socket.create_server(("127.0.0.1", self.port)) as srv:
            self._ready.set()
            _accept(srv, self.role, self.connections)

    def __enter__(self) -> Server:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc) -> None:
        self._thread.join(10)


if __name__ == "__main__":
    role, port = sys.argv[1], int(sys.argv[2])
    if role == "ws-client":
        ws_client(port)
    elif role == "http-client":
        http_client(port, sys.argv[3] if len(sys.argv) > 3 else "/events", float(sys.argv[4]) if len(sys.argv) > 4
                    else 0.0)
    else:
        serve(role, port, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
