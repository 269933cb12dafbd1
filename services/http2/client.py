"""HTTP/2 client scenario: one h2c connection, several concurrent requests, and one streamed upload."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx

from services.common import (
    CERT_DIR,
    PORT,
    TIMEOUT,
    TLS,
    WIRE_JUDGES,
    client_tls,
    log,
    payload,
    scheme,
    server_host,
)

out = log("http2-client")
BASE = f"{scheme('http')}://{server_host('http2')}:{PORT}"


async def upload_body():
    for n in range(3):
        yield payload("piece", n).encode()
        await asyncio.sleep(0.3)  # the server's answer is already on its way


async def scenario() -> int:
    # http1=False: h2c with prior knowledge, one connection for every request below.
    # Over TLS, h2 is chosen by ALPN; in the clear, http1=False means h2c with prior knowledge.
    verify = client_tls(["h2"]) or True
    async with httpx.AsyncClient(http1=False, http2=True, base_url=BASE, timeout=TIMEOUT, verify=verify) as client:
        gets = [client.get(f"/item/{n}") for n in range(1, 4)]
        responses = await asyncio.gather(*gets, client.post("/upload", content=upload_body()))
    for r in responses:
        out.info("%s %s -> %d %s, %d bytes", r.request.method, r.request.url.path, r.status_code,
                 r.http_version, len(r.content))
    ok = all(r.status_code == 200 and r.http_version == "HTTP/2" for r in responses)
    # A third-party peer on its own connection: curl speaking h2 (h2c prior knowledge, or ALPN over TLS).
    mode = ["--cacert", f"{CERT_DIR}/cert.pem", "--http2"] if TLS else ["--http2-prior-knowledge"]
    proc = subprocess.run(["curl", "-sS", *mode, "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                           f"{BASE}/item/9"], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    out.info("curl GET /item/9 -> %s", proc.stdout or proc.stderr.strip())
    return 0 if WIRE_JUDGES or (ok and proc.stdout == "2 200") else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(scenario()))
