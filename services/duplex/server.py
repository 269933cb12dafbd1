"""Full-duplex HTTP/1.1 server: answers each piece of a streamed request body as it arrives.

One POST /duplex: the response (200, chunked) starts with the answer to the first piece and
carries one answer per piece while the request body is still coming, then "done" once it ends.
Legal HTTP/1.1 (RFC 9112 §9.3 leaves the server free to respond before the request is
complete); the client still spoke first, and the answer still follows its request.
"""

from __future__ import annotations

import uvicorn

from services.common import PORT, payload


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    started, answered = False, 0
    more = True
    while more:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        more = msg.get("more_body", False)
        if not msg.get("body"):
            continue
        if not started:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            started = True
        answered += 1
        await send({"type": "http.response.body", "body": payload("answer", answered).encode(), "more_body": True})
    if not started:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"done\n"})


def main() -> None:
    uvicorn.run(app, host="0.0.0.0", port=PORT, http="h11", log_level="warning")


if __name__ == "__main__":
    main()
