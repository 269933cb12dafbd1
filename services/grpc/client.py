"""gRPC client scenario: open the bidi stream, send a few messages slowly, then half-close and read the rest."""

from __future__ import annotations

import asyncio
import sys

import grpc

from services.common import PORT, TIMEOUT, log, payload, server_host
from services.grpc import METHOD, identity

out = log("grpc-client")
SAYS = 3


async def requests():
    for n in range(1, SAYS + 1):
        await asyncio.sleep(0.3)  # the server ticks in between: it does not wait for us
        yield payload("hello", n).encode()


async def scenario() -> int:
    async with grpc.aio.insecure_channel(f"{server_host('grpc')}:{PORT}") as channel:
        chat = channel.stream_stream(METHOD, request_serializer=identity, response_deserializer=identity)
        got = [m async for m in chat(requests(), timeout=TIMEOUT)]
    ticks = sum(m.startswith(b"tick") for m in got)
    echoes = sum(m.startswith(b"echo") for m in got)
    out.info("received %d ticks and %d echoes on one stream", ticks, echoes)
    return 0 if ticks >= 3 and echoes == SAYS else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(scenario()))
