"""HTTP/1.1 server: uvicorn on h11 (it honours keep-alive and answers pipelined requests in order)."""

from __future__ import annotations

import uvicorn

from services.common import PORT, payload


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:  # read the whole request body before answering: plain request/response
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    if scope["method"] == "POST":
        text = payload("received", len(body))
    else:
        text = payload("item", int(scope["path"].rsplit("/", 1)[-1] or 0) if scope["path"][-1:].isdigit() else 0)
    data = text.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


if __name__ == "__main__":
    uvicorn.run(app, host="0.0.0.0", port=PORT, http="h11", log_level="warning", timeout_keep_alive=30)
