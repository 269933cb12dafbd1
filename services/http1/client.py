"""HTTP/1.1 client scenario: one keep-alive connection (GETs and a POST), then two pipelined GETs,
then one request from curl.

httpx carries the keep-alive connection. No maintained Python client pipelines, so the
pipelined pair is written with h11 (which builds and parses the messages) over a socket:
both requests leave before the first response is read.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import h11
import httpx

from services.common import PORT, TIMEOUT, WIRE_JUDGES, log, payload, server_host

HOST = server_host("http1")


def _expect_ok(r: httpx.Response) -> None:
    """The lab's server answers 2xx; your server (BYO) answers what it answers, and the capture is judged."""
    if not WIRE_JUDGES:
        r.raise_for_status()


def keep_alive(out) -> None:
    with httpx.Client(base_url=f"http://{HOST}:{PORT}", timeout=TIMEOUT, http2=False) as client:
        for n in range(1, 4):
            r = client.get(f"/item/{n}")
            _expect_ok(r)
            out.info("GET /item/%d -> %d %r", n, r.status_code, r.text[:20])
            time.sleep(0.1)
        r = client.post("/echo", content=payload("posted", 1).encode())
        _expect_ok(r)
        out.info("POST /echo -> %d %r", r.status_code, r.text[:20])
        r = client.get("/item/4")
        _expect_ok(r)


def pipelined(out) -> None:
    wire = b""
    for n in (5, 6):
        conn = h11.Connection(h11.CLIENT)
        wire += conn.send(h11.Request(method="GET", target=f"/item/{n}",
                                      headers=[("Host", f"{HOST}:{PORT}"), ("User-Agent", "duplexlab-h11")]))
        wire += conn.send(h11.EndOfMessage())
    with socket.create_connection((HOST, PORT), timeout=TIMEOUT) as sock:
        sock.sendall(wire)  # both requests in one write: the second is sent before any answer
        reader, done = _primed(), 0
        while done < 2:
            event = reader.next_event()
            if event is h11.NEED_DATA:
                reader.receive_data(sock.recv(65536))
            elif event is h11.PAUSED:  # one exchange complete: the next response follows in the bytes
                trailing, _ = reader.trailing_data
                reader = _primed()
                reader.receive_data(trailing)
            elif isinstance(event, h11.Response):
                out.info("pipelined response %d -> %d", done + 1, event.status_code)
            elif isinstance(event, h11.EndOfMessage):
                done += 1
        sock.shutdown(socket.SHUT_WR)


def _primed() -> h11.Connection:
    """An h11 parser that believes it sent a request, so it will read the next response."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", HOST)]))
    conn.send(h11.EndOfMessage())
    return conn


def third_party(out) -> None:
    """curl, a peer nobody here wrote, on its own connection."""
    proc = subprocess.run(["curl", "-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}",
                           f"http://{HOST}:{PORT}/item/7"], capture_output=True, text=True, timeout=TIMEOUT,
                          check=True)
    out.info("curl GET /item/7 -> %s", proc.stdout)


def main() -> int:
    out = log("http1-client")
    keep_alive(out)
    pipelined(out)
    third_party(out)
    out.info("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
