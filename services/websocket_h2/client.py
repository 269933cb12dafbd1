"""WebSocket over HTTP/2 client scenario (h2 + wsproto's frame layer, RFC 8441): h2c with prior knowledge,
wait for the server's SETTINGS_ENABLE_CONNECT_PROTOCOL, open the WebSocket with an extended CONNECT
(``:protocol websocket``), then the websocket scenario on that one stream: listen to ticks, say a few
masked things, close."""

from __future__ import annotations

import asyncio
import sys

import h2.config
import h2.connection
import h2.events
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode

from services.common import PORT, TIMEOUT, WIRE_JUDGES, WS_SAYS, WS_TICKS, log, payload, server_host, server_path

out = log("websocket-h2-client")


async def scenario() -> int:
    host = server_host("websocket-h2")
    reader, writer = await asyncio.open_connection(host, PORT)
    h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    h2c.initiate_connection()
    ws = FrameProtocol(client=True, extensions=[])
    enabled, accepted, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    ticks = echoes = 0
    sid = 1

    def flush() -> None:
        writer.write(h2c.data_to_send())

    async def listen() -> None:
        nonlocal ticks, echoes
        while data := await reader.read(65536):
            for e in h2c.receive_data(data):
                if isinstance(e, h2.events.RemoteSettingsChanged) and h2c.remote_settings.enable_connect_protocol:
                    enabled.set()
                elif isinstance(e, h2.events.ResponseReceived) and dict(e.headers).get(":status") == "200":
                    accepted.set()
                elif isinstance(e, h2.events.DataReceived):
                    h2c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                    ws.receive_bytes(e.data)
                    for frame in ws.received_frames():
                        if frame.opcode is Opcode.TEXT:
                            ticks += frame.payload.startswith("tick")
                            echoes += frame.payload.startswith("echo")
                        elif frame.opcode is Opcode.CLOSE:
                            done.set()
                elif isinstance(e, h2.events.StreamEnded | h2.events.ConnectionTerminated):
                    done.set()
            flush()
        done.set()

    flush()
    listener = asyncio.create_task(listen())
    await asyncio.wait_for(enabled.wait(), TIMEOUT)  # RFC 8441 §4: no extended CONNECT before the setting
    h2c.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                           (":path", server_path("/ticks")), (":authority", host), ("sec-websocket-version", "13")])
    flush()
    await asyncio.wait_for(accepted.wait(), TIMEOUT)
    for n in range(1, WS_SAYS + 1):
        await asyncio.sleep(0.4)
        h2c.send_data(sid, ws.send_data(payload("hello", n)))
        flush()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (ticks < WS_TICKS or echoes < WS_SAYS) and loop.time() < deadline and not done.is_set():
        await asyncio.sleep(0.05)
    h2c.send_data(sid, ws.close(CloseReason.NORMAL_CLOSURE))
    flush()
    await asyncio.sleep(0.3)
    h2c.close_connection()
    flush()
    writer.close()
    listener.cancel()
    out.info("ticks %d, echoes %d over one HTTP/2 stream", ticks, echoes)
    return 0 if WIRE_JUDGES or (ticks >= WS_TICKS and echoes >= WS_SAYS) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(scenario()))
