"""gRPC server: a bidi stream where the server ticks on its own timer while the client is still talking (over TLS on
443 with TLS=1, h2 by ALPN; the key log comes from the client, services/grpc/h2client.py)."""

from __future__ import annotations

import asyncio

import grpc

from services.common import CERT_DIR, PORT, TLS, log, payload
from services.grpc import METHOD, identity

TICKS, EVERY = 5, 0.2
# grpc.server-originates (>= 3) holds by count: each client message can prompt at most the one server message after
# it, and the call ends only once every tick is out, so at least TICKS server messages are unprompted.
out = log("grpc-server")


async def chat(request_iterator, context):
    queue: asyncio.Queue = asyncio.Queue()

    async def ticker() -> None:
        for n in range(1, TICKS + 1):
            await asyncio.sleep(EVERY)
            await queue.put(payload("tick", n).encode())  # nobody asked for this message

    async def echo() -> None:
        async for message in request_iterator:
            await queue.put(payload("echo", len(message)).encode())

    tasks = [asyncio.create_task(ticker()), asyncio.create_task(echo())]
    done = asyncio.gather(*tasks)
    while not (done.done() and queue.empty()):
        try:
            yield await asyncio.wait_for(queue.get(), 0.05)
        except TimeoutError:
            continue
    await done


async def main() -> None:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler("duplexlab.Ticker", {
        "Chat": grpc.stream_stream_rpc_method_handler(chat, request_deserializer=identity,
                                                      response_serializer=identity)})
    server.add_generic_rpc_handlers((handler,))
    if TLS:  # grpcio logs no TLS keys; the grpc-tls client does (services/grpc/h2client.py)
        with open(f"{CERT_DIR}/key.pem", "rb") as key, open(f"{CERT_DIR}/cert.pem", "rb") as cert:
            server.add_secure_port(f"0.0.0.0:{PORT}", grpc.ssl_server_credentials([(key.read(), cert.read())]))
    else:
        server.add_insecure_port(f"0.0.0.0:{PORT}")  # h2c, readable as it is
    await server.start()
    out.info("serving %s", METHOD)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
