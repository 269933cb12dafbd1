"""gRPC client scenario: open the bidi stream, send a few messages slowly, then half-close and read the rest.

grpcio over h2c; with TLS=1 the same scenario is services/grpc/h2client.py (grpcio writes no TLS key log)."""

from __future__ import annotations

import asyncio
import sys

import grpc

from services.common import PORT, TIMEOUT, TLS, log, payload, server_host
from services.grpc import METHOD, identity

out = log("grpc-client")
SAYS = 3


async def requests(heard: asyncio.Event):
    for n in range(1, SAYS + 1):
        await asyncio.sleep(0.3)  # the server ticks in between: it does not wait for us
        yield payload("hello", n).encode()
    # Half-close only once the server has spoken: grpc.full-duplex (server messages before the client's END_STREAM)
    # then holds by how this client is built, not because the server's first tick beat our third hello.
    await asyncio.wait_for(heard.wait(), TIMEOUT)


async def scenario() -> int:
    async with grpc.aio.insecure_channel(f"{server_host('grpc')}:{PORT}") as channel:
        chat = channel.stream_stream(METHOD, request_serializer=identity, response_deserializer=identity)
        heard, got = asyncio.Event(), []
        async for m in chat(requests(heard), timeout=TIMEOUT):
            got.append(m)
            heard.set()
    ticks = sum(m.startswith(b"tick") for m in got)
    echoes = sum(m.startswith(b"echo") for m in got)
    out.info("received %d ticks and %d echoes on one stream", ticks, echoes)
    return 0 if ticks >= 3 and echoes == SAYS else 1


if __name__ == "__main__":
    if TLS:
        from services.grpc import h2client

        sys.exit(asyncio.run(h2client.scenario()))
    sys.exit(asyncio.run(scenario()))
